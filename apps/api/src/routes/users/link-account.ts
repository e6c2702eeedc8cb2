import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'POST',
  url: '/users/linked-accounts',
  operationId: 'linkAccount',
  summary: 'Link an account (needs an identity-provider management API, which Shoal does not have: 404)',
  tags: ['users'],
  auth: 'user',
  body: Type.Object({ provider: Type.String({ minLength: 1 }), userId: Type.String({ minLength: 1 }) }),
  response: { 204: Type.Null() },
  handler: ({ user, body }, s) => s.users.linkAccount(user, body),
});
