import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; pending invitations of this organization. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/invitations/:invitationId/cancel',
  operationId: 'cancelOrganizationInvitation',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id, invitationId: Id }),
  response: { 204: Type.Null() },
  handler: ({ user, params }, s) => s.organizations.invitations.cancel(user, params.organizationId, params.invitationId),
});
