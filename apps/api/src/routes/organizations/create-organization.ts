import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateOrganization } from '../../schemas-organizations.js';

/** The caller becomes its owner; at most 10 per user and only with a verified e-mail (organization.service.ts). */
export default defineRoute({
  method: 'POST',
  url: '/organizations',
  operationId: 'createOrganization',
  tags: ['organizations'],
  auth: 'user',
  body: CreateOrganization,
  response: { 201: Type.Ref('Organization') },
  handler: ({ user, body }, s) => s.organizations.create(user, body.name),
});
