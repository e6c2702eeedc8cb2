import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
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
  handler: ({ body }, s) => s.organizations.createUser(body),
});
