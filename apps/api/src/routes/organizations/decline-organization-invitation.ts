import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** The invitation is marked declined. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/invitations/:invitationId/decline',
  operationId: 'declineOrganizationInvitation',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ invitationId: Id }),
  response: { 200: Type.Null() },
  handler: ({ user, params }, s) => s.organizations.invitations.decline(user, params.invitationId),
});
