import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateAuditLog } from './dto.js';

export default defineRoute({
  method: 'POST',
  url: '/audit',
  operationId: 'createAuditLog',
  summary: 'Write an audit log entry (admin)',
  tags: ['audit'],
  auth: 'admin',
  body: CreateAuditLog,
  response: { 201: Type.Ref('AuditLog') },
  // The entry this writes is itself the record; a second row about writing it would only be noise.
  audit: false,
  handler: ({ body, req }, s) =>
    s.audit.create(body, {
      ipAddress: req.ip ?? null,
      userAgent: req.headers['user-agent']?.slice(0, 512) ?? null,
      source: typeof req.headers['x-daytona-source'] === 'string' ? req.headers['x-daytona-source'].slice(0, 512) : null,
    }),
});
