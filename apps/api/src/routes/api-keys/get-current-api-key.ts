import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/api-keys/current',
  operationId: 'getCurrentApiKey',
  tags: ['api-keys'],
  auth: 'user',
  response: { 200: Type.Ref('CurrentApiKey') },
  handler: ({ user }, s) => s.apiKeys.current(user),
});
