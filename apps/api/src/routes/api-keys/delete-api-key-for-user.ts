import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'DELETE',
  url: '/api-keys/:userId/:name',
  operationId: 'deleteApiKeyForUser',
  tags: ['api-keys'],
  auth: 'user',
  params: Type.Object({ userId: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }) }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.apiKeys.removeForUser(user, params.userId, params.name),
});
