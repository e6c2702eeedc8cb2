import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { UpdateWebhookEndpointDto, WebhookEndpointDto } from '../../schemas-webhooks.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'PATCH',
  url: '/webhooks/portal/endpoints/:endpointId',
  operationId: 'webhookPortalUpdateEndpoint',
  auth: 'none',
  hide: true,
  params: Type.Object({ endpointId: Type.String({ maxLength: 64 }) }),
  body: UpdateWebhookEndpointDto,
  response: { 200: WebhookEndpointDto },
  handler: async ({ req, params, body }, s) => s.webhooks.updateEndpoint(await s.webhooks.portalOrganization(portalToken(req)), params.endpointId, body),
});
