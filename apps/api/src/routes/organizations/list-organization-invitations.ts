import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only: pending, unexpired invitations. */
export default defineRoute({
  method: 'GET',
  url: '/organizations/:organizationId/invitations',
  operationId: 'listOrganizationInvitations',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  response: { 200: Type.Array(Type.Ref('OrganizationInvitation')) },
  handler: ({ user, params }, s) => s.organizations.invitations.listForOrganization(user, params.organizationId),
});
