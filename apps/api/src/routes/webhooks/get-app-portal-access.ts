import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { WebhookAppPortalAccess } from '../../schemas-webhooks.js';

export default defineRoute({
  method: 'POST',
  url: '/webhooks/organizations/:organizationId/app-portal-access',
  operationId: 'webhookControllerGetAppPortalAccess',
  summary: 'Get a short-lived URL of the webhook endpoint portal',
  tags: ['webhooks'],
  auth: 'user',
  params: Type.Object({ organizationId: Type.String() }),
  response: { 200: WebhookAppPortalAccess },
  handler: ({ user, params }, s) => s.webhooks.appPortalAccess(user, params.organizationId),
});
