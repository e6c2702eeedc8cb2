import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'POST',
  url: '/users/mfa/sms/enroll',
  operationId: 'enrollInSmsMfa',
  summary: 'SMS MFA enrollment URL (needs an identity-provider management API, which Shoal does not have: 404)',
  tags: ['users'],
  auth: 'user',
  response: { 200: Type.String() },
  handler: async (_ctx, s) => s.users.enrollInSmsMfa(),
});
