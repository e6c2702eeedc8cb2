import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Membership with the invitation's role and assigned roles, in one transaction. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/invitations/:invitationId/accept',
  operationId: 'acceptOrganizationInvitation',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ invitationId: Id }),
  response: { 200: Type.Null(), 409: Type.Ref('ErrorEnvelope') },
  handler: ({ user, params }, s) => s.organizations.invitations.accept(user, params.invitationId),
});
