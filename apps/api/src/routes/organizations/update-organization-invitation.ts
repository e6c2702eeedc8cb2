import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { UpdateOrganizationInvitation } from '../../schemas-organizations.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; pending, unexpired invitations of this organization. */
export default defineRoute({
  method: 'PUT',
  url: '/organizations/:organizationId/invitations/:invitationId',
  operationId: 'updateOrganizationInvitation',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id, invitationId: Id }),
  body: UpdateOrganizationInvitation,
  response: { 200: Type.Ref('OrganizationInvitation') },
  handler: ({ user, params, body }, s) => s.organizations.invitations.update(user, params.organizationId, params.invitationId, body),
});
