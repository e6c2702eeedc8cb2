import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { UpdateOrganizationMemberAccess } from '../../schemas-organizations.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; the last owner cannot be demoted. The member's keys holding a lost permission are deleted. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/users/:userId/access',
  operationId: 'updateAccessForOrganizationMember',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id, userId: Id }),
  body: UpdateOrganizationMemberAccess,
  response: { 200: Type.Ref('OrganizationUser') },
  handler: ({ user, params, body }, s) => s.organizations.members.updateAccess(user, params.organizationId, params.userId, body),
});
