import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { PERMISSIONS } from '../../auth/api-key-format.js';
import { Errors } from '../../errors.js';
import { CreateUserBody } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/users',
  operationId: 'createUser',
  summary: 'Create a user with a personal organization (admin). Shoal extension: createApiKey returns a key once',
  tags: ['users'],
  auth: 'admin',
  body: CreateUserBody,
  response: { 201: Type.Ref('CreatedUser') },
  handler: async ({ user, body }, s) => {
    // The key minted here holds every permission, so only a key holding every permission may mint it (admin routes
    // demand that already; kept here so the rule survives a change of the admin rule).
    const missing = PERMISSIONS.filter((perm) => !user.permissions.has(perm));
    if (body.createApiKey && missing.length) throw Errors.insufficientPermissions(missing);
    return s.users.create(body);
  },
});
