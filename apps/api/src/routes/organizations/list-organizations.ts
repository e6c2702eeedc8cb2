import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/organizations',
  operationId: 'listOrganizations',
  tags: ['organizations'],
  auth: 'user',
  response: { 200: Type.Array(Type.Ref('Organization')) },
  handler: ({ user }, s) => s.organizations.list(user),
});
