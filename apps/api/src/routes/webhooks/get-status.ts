import { defineRoute } from '../../http/route.js';
import { WebhookStatusDto } from '../../schemas-webhooks.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/status',
  operationId: 'webhookControllerGetStatus',
  summary: 'Webhook service status',
  tags: ['webhooks'],
  auth: 'admin',
  response: { 200: WebhookStatusDto },
  handler: async (_ctx, s) => s.webhooks.status(),
});
