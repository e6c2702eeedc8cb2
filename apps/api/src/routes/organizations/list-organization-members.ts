import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Any member. */
export default defineRoute({
  method: 'GET',
  url: '/organizations/:organizationId/users',
  operationId: 'listOrganizationMembers',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  response: { 200: Type.Array(Type.Ref('OrganizationUser')) },
  handler: ({ user, params }, s) => s.organizations.members.list(user, params.organizationId),
});
