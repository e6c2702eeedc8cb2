import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SendWebhookDto, WebhookMessageDto } from '../../schemas-webhooks.js';

export default defineRoute({
  method: 'POST',
  url: '/webhooks/organizations/:organizationId/send',
  operationId: 'webhookControllerSendWebhook',
  summary: 'Send a webhook message to the organization\'s endpoints',
  tags: ['webhooks'],
  auth: 'admin',
  params: Type.Object({ organizationId: Type.String() }),
  body: SendWebhookDto,
  response: { 200: WebhookMessageDto },
  handler: ({ params, body }, s) => s.webhooks.send(params.organizationId, body),
});
