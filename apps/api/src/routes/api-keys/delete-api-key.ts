import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'DELETE',
  url: '/api-keys/:name',
  operationId: 'deleteApiKey',
  tags: ['api-keys'],
  auth: 'user',
  params: Type.Object({ name: Type.String({ minLength: 1 }) }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.apiKeys.remove(user, params.name),
});
