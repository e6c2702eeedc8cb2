import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/organizations/:organizationId',
  operationId: 'getOrganization',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Type.String() }),
  response: { 200: Type.Ref('Organization') },
  handler: ({ user, params }, s) => s.organizations.get(user, params.organizationId),
});
