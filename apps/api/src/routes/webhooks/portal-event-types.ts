import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'GET',
  url: '/webhooks/portal/event-types',
  operationId: 'webhookPortalEventTypes',
  auth: 'none',
  hide: true,
  response: { 200: Type.Array(Type.String()) },
  handler: async ({ req }, s) => {
    await s.webhooks.portalOrganization(portalToken(req));
    return s.webhooks.eventTypes();
  },
});
