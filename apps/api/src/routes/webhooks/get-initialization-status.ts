import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { WebhookInitializationStatus } from '../../schemas-webhooks.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/organizations/:organizationId/initialization-status',
  operationId: 'webhookControllerGetInitializationStatus',
  summary: 'Webhook initialization status of the organization',
  tags: ['webhooks'],
  auth: 'user',
  params: Type.Object({ organizationId: Type.String() }),
  response: { 200: WebhookInitializationStatus },
  handler: ({ user, params }, s) => s.webhooks.initializationStatus(user, params.organizationId),
});
