import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'POST',
  url: '/webhooks/organizations/:organizationId/initialize',
  operationId: 'webhookControllerInitializeWebhooks',
  summary: 'Initialize webhooks for the organization',
  tags: ['webhooks'],
  auth: 'admin',
  params: Type.Object({ organizationId: Type.String() }),
  response: { 201: Type.Null() },
  handler: ({ params }, s) => s.webhooks.initialize(params.organizationId),
});
