import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/api-keys/:name',
  operationId: 'getApiKey',
  tags: ['api-keys'],
  auth: 'user',
  params: Type.Object({ name: Type.String({ minLength: 1 }) }),
  response: { 200: Type.Ref('ApiKeyList') },
  handler: ({ user, params }, s) => s.apiKeys.get(user, params.name),
});
