import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { AuditLogQuery } from './dto.js';

export default defineRoute({
  method: 'GET',
  url: '/audit',
  operationId: 'getAllAuditLogs',
  summary: 'Every organization\'s audit log, newest first',
  tags: ['audit'],
  auth: 'admin',
  querystring: AuditLogQuery,
  response: { 200: Type.Ref('PaginatedAuditLogs') },
  handler: ({ query }, s) => s.audit.listAll(query),
});
