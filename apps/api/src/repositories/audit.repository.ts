import { sql, type Kysely, type SelectExpression } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';
import type { AuditLogRow, AuditTables } from '../audit/tables.js';

export interface NewAuditLog {
  actorId: string;
  /** Empty: taken from the user row of actorId (if any) in the same statement. */
  actorEmail: string;
  organizationId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  statusCode?: number | null;
  errorMessage?: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  source: string | null;
  metadata: Record<string, unknown> | null;
}

export interface AuditLogFilter {
  organizationId?: string;
  from?: Date;
  to?: Date;
  action?: string;
  targetType?: string;
  targetId?: string;
  actorId?: string;
}

type Row = Omit<AuditLogRow, 'metadata'> & { metadataText: string | null };
// The CamelCasePlugin would rename the keys inside metadata (API_TOKEN -> APITOKEN): it is read as text and parsed.
const COLUMNS = [
  'id',
  'actorId',
  'actorEmail',
  'organizationId',
  'action',
  'targetType',
  'targetId',
  'statusCode',
  'errorMessage',
  'ipAddress',
  'userAgent',
  'source',
  'createdAt',
  sql<string | null>`metadata::text`.as('metadataText'),
] as const satisfies ReadonlyArray<SelectExpression<AuditTables, 'auditLog'>>;

const toRow = ({ metadataText, ...r }: Row): AuditLogRow => ({ ...r, metadata: metadataText === null ? null : (JSON.parse(metadataText) as Record<string, unknown>) });

/** Purges run in batches so one sweep never holds a long lock on a big table. */
const PURGE_BATCH = 5000;
/**
 * PostgreSQL text and jsonb cannot hold U+0000, and jsonb refuses a lone UTF-16 surrogate (JSON allows "\ud800"); a
 * hostile request carries either anywhere (path, query, body, hence the error message), and without this the row
 * fails and the request with it. The replacement character keeps a trace of what was there.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what must go
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\uFFFD') as T;
  if (Array.isArray(value)) return value.map((v: unknown) => storable(v)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T;
  }
  return value;
}

/** Held (transaction-scoped, non-blocking) by the replica that purges; the others skip that round. */
const PURGE_LOCK_ID = 727_011;

export class AuditRepository {
  private readonly db: Kysely<Database & AuditTables>;

  constructor(db: Db) {
    this.db = db as unknown as Kysely<Database & AuditTables>;
  }

  /** Durable before it returns: the change it precedes may have effects outside this database (runners, sandboxes). */
  async insert(input: NewAuditLog): Promise<AuditLogRow> {
    const row = storable(input);
    return this.db
      .insertInto('auditLog')
      .values({
        ...row,
        actorEmail: row.actorEmail ? row.actorEmail : sql<string>`coalesce((SELECT email FROM "user" WHERE id = ${row.actorId}), '')`,
        metadata: row.metadata === null ? null : JSON.stringify(row.metadata),
      })
      .returning(COLUMNS)
      .executeTakeFirstOrThrow()
      .then(toRow);
  }

  /**
   * Records the outcome; a create's target id (and a new organization's id) become known only from its response. It
   * commits without waiting for the WAL flush (one fsync less per audited request): a crash in that instant loses at
   * most the outcome, and the row itself is already durable. One statement, so one round trip: the setting is made
   * local to the statement's own transaction by set_config(..., true), which its commit still reads.
   */
  async complete(id: string, result: { statusCode: number; errorMessage: string | null; targetId?: string | null; organizationId?: string | null }): Promise<void> {
    const outcome = storable(result);
    await this.db
      .updateTable('auditLog')
      .from(sql<{ setting: string }>`(SELECT set_config('synchronous_commit', 'off', true) AS setting)`.as('unflushed'))
      .set({
        statusCode: outcome.statusCode,
        errorMessage: outcome.errorMessage,
        ...(outcome.targetId ? { targetId: outcome.targetId } : {}),
        ...(outcome.organizationId ? { organizationId: outcome.organizationId } : {}),
      })
      .where('auditLog.id', '=', id)
      .execute();
  }

  /** Newest first. */
  async list(filter: AuditLogFilter, page: number, limit: number): Promise<{ items: AuditLogRow[]; total: number }> {
    let q = this.db.selectFrom('auditLog');
    if (filter.organizationId !== undefined) q = q.where('organizationId', '=', filter.organizationId);
    if (filter.from) q = q.where('createdAt', '>=', filter.from);
    if (filter.to) q = q.where('createdAt', '<=', filter.to);
    if (filter.action) q = q.where('action', '=', filter.action);
    if (filter.targetType) q = q.where('targetType', '=', filter.targetType);
    if (filter.targetId) q = q.where('targetId', '=', filter.targetId);
    if (filter.actorId) q = q.where('actorId', '=', filter.actorId);
    const [items, count] = await Promise.all([
      q
        .select(COLUMNS)
        .orderBy('createdAt', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .offset((page - 1) * limit)
        .execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: items.map(toRow), total: Number(count.n) };
  }

  /** The organization an invitation belongs to (accept/decline name only the invitation). */
  async invitationOrganization(invitationId: string): Promise<string | null> {
    const r = await sql<{ organizationId: string }>`SELECT organization_id FROM organization_invitation WHERE id = ${invitationId}::uuid`.execute(this.db);
    return r.rows[0]?.organizationId ?? null;
  }

  async organizationExists(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('organization').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Deletes rows older than `before`, batch by batch. Each batch takes a transaction-scoped advisory lock without
   * waiting: with several API replicas one purges and the others return at once (deleting is idempotent anyway; the
   * lock only saves them the same work). Returns the rows deleted by this process.
   */
  async purgeOlderThan(before: Date): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.db.transaction().execute(async (trx) => {
        const lock = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${PURGE_LOCK_ID}) AS ok`.execute(trx);
        if (!lock.rows[0]?.ok) return -1;
        const r = await sql`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE created_at < ${before} ORDER BY created_at LIMIT ${PURGE_BATCH})`.execute(trx);
        return Number(r.numAffectedRows ?? 0);
      });
      if (deleted < 0) return total;
      total += deleted;
      if (deleted < PURGE_BATCH) return total;
    }
  }
}
