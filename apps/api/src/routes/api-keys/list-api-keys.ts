import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/api-keys',
  operationId: 'listApiKeys',
  tags: ['api-keys'],
  auth: 'user',
  response: { 200: Type.Array(Type.Ref('ApiKeyList')) },
  handler: ({ user }, s) => s.apiKeys.list(user),
});
