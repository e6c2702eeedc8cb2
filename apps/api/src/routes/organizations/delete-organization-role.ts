import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; global roles 403, another organization's role 404. Members' keys beyond their roles are deleted. */
export default defineRoute({
  method: 'DELETE',
  url: '/organizations/:organizationId/roles/:roleId',
  operationId: 'deleteOrganizationRole',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id, roleId: Id }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.organizations.roles.remove(user, params.organizationId, params.roleId),
});
