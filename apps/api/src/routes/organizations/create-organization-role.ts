import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateOrganizationRole } from '../../schemas-organizations.js';

const Id = Type.String({ minLength: 1, maxLength: 128 });

/** Owners only; permissions from the reference's set. */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/roles',
  operationId: 'createOrganizationRole',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Id }),
  body: CreateOrganizationRole,
  response: { 201: Type.Ref('OrganizationRole') },
  handler: ({ user, params, body }, s) => s.organizations.roles.create(user, params.organizationId, body),
});
