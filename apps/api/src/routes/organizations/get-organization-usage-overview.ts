import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'GET',
  url: '/organizations/:organizationId/usage',
  operationId: 'getOrganizationUsageOverview',
  tags: ['organizations'],
  auth: 'user',
  params: Type.Object({ organizationId: Type.String() }),
  response: { 200: Type.Ref('OrganizationUsageOverview') },
  handler: ({ user, params }, s) => s.organizations.usage(user, params.organizationId),
});
