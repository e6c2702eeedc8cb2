import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateOrganizationInvitation } from '../../schemas-organizations.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; one pending invitation per address (409); personal organizations receive none. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/invitations',
  operationId: 'createOrganizationInvitation',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  body: CreateOrganizationInvitation,
  response: { 201: Type.Ref('OrganizationInvitation'), 409: Type.Ref('ErrorEnvelope') },
  handler: ({ user, params, body }, s) => s.organizations.invitations.create(user, params.organizationId, body),
});
