import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/users',
  operationId: 'listUsers',
  tags: ['users'],
  auth: 'admin',
  response: { 200: Type.Array(Type.Ref('User')) },
  handler: (_ctx, s) => s.users.list(),
});
