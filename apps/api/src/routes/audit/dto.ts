import { Type } from '@sinclair/typebox';
import { AUDIT_TARGET_TYPES } from '../../audit/actions.js';

/* Shapes of the /audit operations (Daytona v0.108 AuditLog, PaginatedAuditLogs, CreateAuditLog). */

const Str = (opts: { maxLength: number; minLength?: number }) => Type.String(opts);

export const AuditLogDto = Type.Object(
  {
    id: Type.String(),
    actorId: Type.String(),
    actorEmail: Type.String(),
    organizationId: Type.Optional(Type.String()),
    action: Type.String(),
    targetType: Type.Optional(Type.String()),
    targetId: Type.Optional(Type.String()),
    statusCode: Type.Optional(Type.Integer()),
    errorMessage: Type.Optional(Type.String()),
    ipAddress: Type.Optional(Type.String()),
    userAgent: Type.Optional(Type.String()),
    source: Type.Optional(Type.String()),
    metadata: Type.Optional(Type.Object({}, { additionalProperties: true })),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'AuditLog' },
);

export const PaginatedAuditLogs = Type.Object(
  { items: Type.Array(Type.Ref('AuditLog')), total: Type.Integer(), page: Type.Integer(), totalPages: Type.Integer() },
  { $id: 'PaginatedAuditLogs' },
);

export const CreateAuditLog = Type.Object(
  {
    actorId: Str({ minLength: 1, maxLength: 256 }),
    actorEmail: Str({ maxLength: 320 }),
    organizationId: Type.Optional(Str({ maxLength: 64 })),
    action: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
    targetType: Type.Optional(Type.Union(AUDIT_TARGET_TYPES.map((t) => Type.Literal(t)))),
    targetId: Type.Optional(Str({ maxLength: 256 })),
  },
  { $id: 'CreateAuditLog' },
);

/** page/limit as in the reference; from/to (ISO 8601, inclusive) and the exact-match filters are Shoal's additions. */
export const AuditLogQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1, description: 'Page number of the results' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 100, description: 'Number of results per page' })),
  from: Type.Optional(Str({ minLength: 1, maxLength: 40 })),
  to: Type.Optional(Str({ minLength: 1, maxLength: 40 })),
  action: Type.Optional(Str({ minLength: 1, maxLength: 64 })),
  targetType: Type.Optional(Str({ minLength: 1, maxLength: 64 })),
  targetId: Type.Optional(Str({ minLength: 1, maxLength: 256 })),
  actorId: Type.Optional(Str({ minLength: 1, maxLength: 256 })),
});

export const auditSchemas = [AuditLogDto, PaginatedAuditLogs, CreateAuditLog];
