import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'DELETE',
  url: '/webhooks/portal/endpoints/:endpointId',
  operationId: 'webhookPortalDeleteEndpoint',
  auth: 'none',
  hide: true,
  params: Type.Object({ endpointId: Type.String({ maxLength: 64 }) }),
  response: { 204: Type.Null() },
  handler: async ({ req, params }, s) => s.webhooks.deleteEndpoint(await s.webhooks.portalOrganization(portalToken(req)), params.endpointId),
});
