import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { WebhookMessageAttemptDto } from '../../schemas-webhooks.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/organizations/:organizationId/messages/:messageId/attempts',
  operationId: 'webhookControllerGetMessageAttempts',
  summary: 'List the delivery attempts of a webhook message',
  tags: ['webhooks'],
  auth: 'admin',
  params: Type.Object({ organizationId: Type.String(), messageId: Type.String() }),
  response: { 200: Type.Array(WebhookMessageAttemptDto) },
  handler: ({ params }, s) => s.webhooks.attempts(params.organizationId, params.messageId),
});
