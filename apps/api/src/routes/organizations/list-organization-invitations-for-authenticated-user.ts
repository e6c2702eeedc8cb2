import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

/** Pending invitations addressed to the caller's verified e-mail (case-insensitive). */
export default defineRoute({
  method: 'GET',
  url: '/organizations/invitations',
  operationId: 'listOrganizationInvitationsForAuthenticatedUser',
  tags: ['organizations'],
  auth: 'user',
  response: { 200: Type.Array(Type.Ref('OrganizationInvitation')) },
  handler: ({ user }, s) => s.organizations.invitations.listMine(user),
});
