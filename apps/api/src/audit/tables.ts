import type { ColumnType, Generated, Selectable } from 'kysely';

/* The audit_log table (migration 11), typed on its own so the audit code needs nothing from the shared schema file. */

export interface AuditLogTable {
  id: Generated<string>;
  /** A user id, or `runner:<id>` for a runner's own calls. */
  actorId: string;
  actorEmail: Generated<string>;
  organizationId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  statusCode: number | null;
  errorMessage: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  source: string | null;
  metadata: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  createdAt: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AuditTables {
  auditLog: AuditLogTable;
}

export type AuditLogRow = Selectable<AuditLogTable>;
