import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/users/:id',
  operationId: 'getUser',
  tags: ['users'],
  auth: 'admin',
  params: Type.Object({ id: Type.String() }),
  response: { 200: Type.Ref('User') },
  handler: ({ params }, s) => s.users.get(params.id),
});
