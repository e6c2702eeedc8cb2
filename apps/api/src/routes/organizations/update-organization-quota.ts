import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { UpdateOrganizationQuota } from '../../schemas.js';

export default defineRoute({
  method: 'PATCH',
  url: '/organizations/:organizationId/quota',
  operationId: 'updateOrganizationQuota',
  audit: { action: 'update_quota' },
  tags: ['organizations'],
  auth: 'admin',
  params: Type.Object({ organizationId: Type.String() }),
  body: UpdateOrganizationQuota,
  response: { 200: Type.Ref('Organization') },
  handler: ({ params, body }, s) => s.organizations.updateQuota(params.organizationId, body),
});
