import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/users/account-providers',
  operationId: 'getAvailableAccountProviders',
  summary: 'Available account providers (needs an identity-provider management API, which Shoal does not have: 404)',
  tags: ['users'],
  auth: 'user',
  response: { 200: Type.Array(Type.Object({ name: Type.String(), displayName: Type.String() })) },
  handler: async (_ctx, s) => s.users.accountProviders(),
});
