import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { AuditLogQuery } from './dto.js';

export default defineRoute({
  method: 'GET',
  url: '/audit/organizations/:organizationId',
  operationId: 'getOrganizationAuditLogs',
  summary: 'One organization\'s audit log, newest first',
  tags: ['audit'],
  auth: 'user',
  permission: 'read:audit_logs',
  params: Type.Object({ organizationId: Type.String({ minLength: 1, maxLength: 64, description: 'Organization ID' }) }),
  querystring: AuditLogQuery,
  response: { 200: Type.Ref('PaginatedAuditLogs') },
  handler: ({ user, params, query }, s) => s.audit.listForOrganization(user, params.organizationId, query),
});
