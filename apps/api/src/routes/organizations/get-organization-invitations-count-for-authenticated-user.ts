import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

/** How many pending invitations the caller's verified e-mail has. */
export default defineRoute({
  method: 'GET',
  url: '/organizations/invitations/count',
  operationId: 'getOrganizationInvitationsCountForAuthenticatedUser',
  tags: ['organizations'],
  auth: 'user',
  response: { 200: Type.Number() },
  handler: ({ user }, s) => s.organizations.invitations.countMine(user),
});
