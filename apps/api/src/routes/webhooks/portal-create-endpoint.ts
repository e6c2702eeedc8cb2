import { defineRoute } from '../../http/route.js';
import { CreateWebhookEndpointDto, WebhookEndpointDto } from '../../schemas-webhooks.js';
import { portalToken } from './portal-token-header.js';

export default defineRoute({
  method: 'POST',
  url: '/webhooks/portal/endpoints',
  operationId: 'webhookPortalCreateEndpoint',
  auth: 'none',
  hide: true,
  body: CreateWebhookEndpointDto,
  response: { 201: WebhookEndpointDto },
  handler: async ({ req, body }, s) => s.webhooks.createEndpoint(await s.webhooks.portalOrganization(portalToken(req)), body),
});
