import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** The 7 global roles and the organization's own; any member. */
export default defineRoute({
  method: 'GET',
  url: '/organizations/:organizationId/roles',
  operationId: 'listOrganizationRoles',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  response: { 200: Type.Array(Type.Ref('OrganizationRole')) },
  handler: ({ user, params }, s) => s.organizations.roles.list(user, params.organizationId),
});
