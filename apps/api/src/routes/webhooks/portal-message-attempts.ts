import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { WebhookMessageAttemptDto } from '../../schemas-webhooks.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/portal/messages/:messageId/attempts',
  operationId: 'webhookPortalMessageAttempts',
  auth: 'none',
  hide: true,
  params: Type.Object({ messageId: Type.String({ maxLength: 64 }) }),
  response: { 200: Type.Array(WebhookMessageAttemptDto) },
  handler: async ({ req, params }, s) => s.webhooks.messageAttempts(await s.webhooks.portalOrganization(portalToken(req)), params.messageId),
});
