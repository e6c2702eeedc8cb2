import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { WebhookEndpointDto } from '../../schemas-webhooks.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/portal/endpoints',
  operationId: 'webhookPortalListEndpoints',
  auth: 'none',
  hide: true,
  response: { 200: Type.Array(WebhookEndpointDto) },
  handler: async ({ req }, s) => s.webhooks.listEndpoints(await s.webhooks.portalOrganization(portalToken(req))),
});
