import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'DELETE',
  url: '/users/linked-accounts/:provider/:providerUserId',
  operationId: 'unlinkAccount',
  summary: 'Unlink an account (needs an identity-provider management API, which Shoal does not have: 404)',
  tags: ['users'],
  auth: 'user',
  params: Type.Object({ provider: Type.String(), providerUserId: Type.String() }),
  response: { 204: Type.Null() },
  handler: async (_ctx, s) => s.users.unlinkAccount(),
});
