import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { WebhookMessageSummaryDto } from '../../schemas-webhooks.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/portal/messages',
  operationId: 'webhookPortalListMessages',
  auth: 'none',
  hide: true,
  querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })) }),
  response: { 200: Type.Array(WebhookMessageSummaryDto) },
  handler: async ({ req, query }, s) => s.webhooks.recentMessages(await s.webhooks.portalOrganization(portalToken(req)), query.limit ?? 50),
});
