import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/users/me',
  operationId: 'getAuthenticatedUser',
  tags: ['users'],
  auth: 'user',
  response: { 200: Type.Ref('User') },
  handler: ({ user }, s) => s.users.me(user),
});
