import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { Db } from '../db/database.js';
import type { Database, NewSandbox, Sandbox } from '../db/schema.js';
import type { PoolShape } from './warm-pool.repository.js';
import type { SandboxWithRunner } from '../services/sandbox-dto.js';
import { suspendedPastGrace } from './organization.repository.js';
import { sandboxWrites } from './sandbox-writes.js';

/** What a claim writes over a pooled sandbox: everything of the create request that is not fixed at container start. */
export interface ClaimedSandboxFields {
  organizationId: string;
  class: string;
  labels: Record<string, string>;
  public: boolean;
  autoStopInterval: number;
  autoArchiveInterval: number;
  autoDeleteInterval: number;
  authToken: string;
  env: Record<string, string>;
  networkBlockAll: boolean;
  networkAllowList: string | null;
}

/** One create's claim of a pooled sandbox, as the claim call takes it. */
export interface PoolClaim {
  /** The pool is the one of this shape (with a size), if any: shoal_claim_pooled finds it. Its resources are what the claimed sandbox counts against the quotas. */
  shape: PoolShape;
  region: string | undefined;
  set: ClaimedSandboxFields;
}

/** A claimed row, none (no pool of that shape, or nothing ready in it), or a refusal with the usage and quotas it was checked against. */
export type PoolClaimOutcome = { row: Sandbox } | { row: undefined } | { refused: { used: Usage; quotas: Usage } };

/** One claim's answer: what shoal_claim_pooled said, and the claimed sandbox's columns (all null when none). */
type ClaimCallRow = Partial<Sandbox> & {
  ord: number;
  refused: boolean;
  usedCpu: number;
  usedMem: number;
  usedDisk: number;
  quotaCpu: number;
  quotaMem: number;
  quotaDisk: number;
}

export interface SandboxListFilter {
  organizationId: string;
  idPrefix?: string;
  labels?: Record<string, string>;
  includeErroredDeleted: boolean;
  states?: string[];
  snapshots?: string[];
  regions?: string[];
  minCpu?: number;
  maxCpu?: number;
  minMemoryGiB?: number;
  maxMemoryGiB?: number;
  minDiskGiB?: number;
  maxDiskGiB?: number;
  lastEventAfter?: string;
  lastEventBefore?: string;
  sort: 'id' | 'state' | 'snapshot' | 'region' | 'updatedAt' | 'createdAt';
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
}

export interface Usage {
  cpu: number;
  mem: number;
  disk: number;
}

type SandboxEb = ExpressionBuilder<Database, 'sandbox'>;

/** The SQL expression of a sandbox's derived (client-visible) state; mirrors derivedState() in sandbox-state.ts. */
const DERIVED_STATE = sql<string>`CASE
  WHEN sandbox.state = sandbox.desired_state OR sandbox.state IN ('error', 'build_failed') THEN sandbox.state
  WHEN sandbox.desired_state = 'destroyed' THEN 'destroying'
  WHEN sandbox.desired_state = 'started' AND sandbox.state = 'unknown' THEN 'creating'
  WHEN sandbox.desired_state = 'started' AND sandbox.state = 'archived' THEN 'restoring'
  WHEN sandbox.desired_state = 'started' AND sandbox.state = 'stopped' THEN 'starting'
  WHEN sandbox.desired_state = 'stopped' AND sandbox.state = 'started' THEN 'stopping'
  WHEN sandbox.desired_state = 'archived' AND sandbox.state = 'stopped' THEN 'archiving'
  ELSE sandbox.state END`;

/** Rows the reconciler has something to do for (see nextAction in sandbox-state.ts). */
function needsWork(eb: SandboxEb): Expression<SqlBool> {
  return eb.and([
    eb('sandbox.state', '<>', eb.ref('sandbox.desiredState')),
    eb('sandbox.state', '<>', 'destroyed'),
    eb.or([eb('sandbox.desiredState', '=', 'destroyed'), eb('sandbox.state', 'not in', ['error', 'build_failed'])]),
    eb.or([eb('sandbox.nextAttemptAt', 'is', null), eb('sandbox.nextAttemptAt', '<=', sql<Date>`now()`)]),
    // A destroy that used up its attempts keeps its count and has no next attempt: it waits for a new DELETE.
    eb.not(eb.and([eb('sandbox.attempts', '>', 0), eb('sandbox.nextAttemptAt', 'is', null)])),
    eb.or([eb('sandbox.claimExpiresAt', 'is', null), eb('sandbox.claimExpiresAt', '<', sql<Date>`now()`)]),
  ]);
}

export class SandboxRepository {
  constructor(private readonly db: Db) {}

  private withRunner() {
    return this.db
      .selectFrom('sandbox')
      .leftJoin('runner', 'runner.id', 'sandbox.runnerId')
      .selectAll('sandbox')
      .select('runner.domain as runnerDomain');
  }

  findById(id: string): Promise<SandboxWithRunner | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.withRunner().where('sandbox.id', '=', id).executeTakeFirst();
  }

  /** `claim`: the row starts claimed by that owner for one lease (a request that drives its own create at once). */
  async insert(row: NewSandbox, claim?: { owner: string; leaseMs: number }): Promise<Sandbox> {
    const values = claim ? { ...row, claimedBy: claim.owner, claimExpiresAt: sql<Date>`now() + ${claim.leaseMs} * interval '1 millisecond'` } : row;
    return this.db.insertInto('sandbox').values(values).returningAll().executeTakeFirstOrThrow();
  }

  /**
   * This transaction's COMMIT returns without waiting for its WAL to reach disk. Only for writes whose caller is
   * answered after a later synchronous commit (which flushes this one's WAL first): lost in a crash, they were never
   * acknowledged.
   */
  async commitWithoutFlush(): Promise<void> {
    await sql`SET LOCAL synchronous_commit = off`.execute(this.db);
  }

  /**
   * Makes every commit before it durable: a transaction that holds a transaction id commits synchronously, and its
   * flush writes out the log of all earlier commits too (those made by commitWithoutFlush included).
   */
  async flushEarlierCommits(): Promise<void> {
    await sql`SELECT pg_current_xact_id()`.execute(this.db);
  }

  /**
   * Claims of one organization in one call (shoal_claim_pooled, migration 19), in order: under the organization's row
   * lock, each claim is checked against the quotas with the usage the previous ones left, then takes the oldest started
   * sandbox of its pool on a runner that still takes work. SKIP LOCKED: two creates racing for the last one never get
   * the same row; the loser gets none (and takes the cold path). The claimed rows are read back once committed.
   */
  async claimPooledBatch(organizationId: string, claims: PoolClaim[]): Promise<PoolClaimOutcome[]> {
    const payload = claims.map((c) => ({ ...c.shape, region: c.region ?? null, set: c.set }));
    // The claimed rows come back in the same round trip (migration 20): the claimer answers with its row at once.
    const { rows } = await sql<ClaimCallRow>`
      SELECT c.ord, c.refused, c.used_cpu, c.used_mem, c.used_disk, c.quota_cpu, c.quota_mem, c.quota_disk, s.*
      FROM shoal_claim_pooled(${organizationId}::uuid, ${JSON.stringify(payload)}::jsonb) c
      LEFT JOIN LATERAL shoal_sandbox_now(c.sandbox_id) s ON true
      ORDER BY c.ord`.execute(this.db);
    const ids = rows.flatMap((r) => (r.id ? [r.id] : []));
    if (ids.length) sandboxWrites.wrote(this.db, ids);
    return claims.map((_, i) => {
      const r = rows[i];
      if (!r) throw new Error(`shoal_claim_pooled answered ${rows.length} of ${claims.length} claims`);
      if (r.refused) return { refused: { used: { cpu: r.usedCpu, mem: r.usedMem, disk: r.usedDisk }, quotas: { cpu: r.quotaCpu, mem: r.quotaMem, disk: r.quotaDisk } } };
      if (!r.id) return { row: undefined };
      const { ord: _o, refused: _r, usedCpu: _uc, usedMem: _um, usedDisk: _ud, quotaCpu: _qc, quotaMem: _qm, quotaDisk: _qd, ...row } = r;
      return { row: row as Sandbox };
    });
  }

  /**
   * A claim the runner could not apply: the sandbox goes back to the placeholder organization, out of its pool, to be
   * destroyed. The caller gets a cold create instead; nobody ever gets this one.
   * The claim already queued a sandbox.created for the caller's webhooks (migration 17). Not sent yet, it is withdrawn;
   * already on its way, it is followed by the sandbox's end (state destroyed), so the caller's webhooks never tell of a
   * sandbox that stays theirs without existing. The delivery rows are locked first: the delivery worker claims with
   * SKIP LOCKED, so it cannot start sending what is being withdrawn.
   */
  async releaseFailedClaim(id: string, placeholderOrganizationId: string, reason: string): Promise<void> {
    const changed = await this.db.transaction().execute(async (trx) => {
      const owner = await trx.selectFrom('sandbox').select('organizationId').where('id', '=', id).forUpdate().executeTakeFirst();
      if (!owner) return 0;
      const created = sql`m.organization_id = ${owner.organizationId} AND m.event_type = 'sandbox.created' AND m.payload->>'id' = ${id}`;
      const { rows: deliveries } = await sql<{ untouched: boolean }>`
        SELECT d.attempts = 0 AND d.state = 'pending' AND d.claimed_by IS NULL AS untouched
        FROM webhook_delivery d JOIN webhook_message m ON m.id = d.message_id WHERE ${created} FOR UPDATE OF d`.execute(trx);
      if (deliveries.every((d) => d.untouched)) {
        await sql`DELETE FROM webhook_message m WHERE ${created}`.execute(trx);
      } else {
        await sql`SELECT shoal_webhook_enqueue(${owner.organizationId}::uuid, 'sandbox.state.updated', jsonb_build_object(
          'id', ${id}::text, 'organizationId', ${owner.organizationId}::text, 'oldState', 'started', 'newState', 'destroyed',
          'updatedAt', shoal_webhook_ts(now())))`.execute(trx);
      }
      const res = await trx
        .updateTable('sandbox')
        .set({ organizationId: placeholderOrganizationId, desiredState: 'destroyed', errorReason: reason, updatedAt: sql`now()` })
        .where('id', '=', id)
        .executeTakeFirst();
      return res.numUpdatedRows;
    });
    sandboxWrites.wroteIf(this.db, id, changed);
  }

  async list(f: SandboxListFilter): Promise<{ items: SandboxWithRunner[]; total: number }> {
    let q = this.withRunner().where('sandbox.organizationId', '=', f.organizationId);
    // Destroyed rows linger for a day (GET after DELETE must work) but never show in lists.
    q = q.where('sandbox.state', '<>', 'destroyed');
    if (!f.includeErroredDeleted) {
      q = q.where((eb) => eb.not(eb.and([eb('sandbox.state', 'in', ['error', 'build_failed']), eb('sandbox.desiredState', '=', 'destroyed')])));
    }
    if (f.idPrefix) q = q.where(sql<SqlBool>`sandbox.id::text ILIKE ${escapeLike(f.idPrefix) + '%'}`);
    if (f.labels && Object.keys(f.labels).length > 0) q = q.where(sql<SqlBool>`sandbox.labels @> ${JSON.stringify(f.labels)}::jsonb`);
    if (f.states?.length) q = q.where(sql<SqlBool>`(${DERIVED_STATE}) IN (${sql.join(f.states)})`);
    if (f.snapshots?.length) q = q.where('sandbox.snapshot', 'in', f.snapshots);
    if (f.regions?.length) q = q.where('sandbox.region', 'in', f.regions);
    if (f.minCpu !== undefined) q = q.where('sandbox.cpu', '>=', f.minCpu);
    if (f.maxCpu !== undefined) q = q.where('sandbox.cpu', '<=', f.maxCpu);
    if (f.minMemoryGiB !== undefined) q = q.where('sandbox.mem', '>=', f.minMemoryGiB);
    if (f.maxMemoryGiB !== undefined) q = q.where('sandbox.mem', '<=', f.maxMemoryGiB);
    if (f.minDiskGiB !== undefined) q = q.where('sandbox.disk', '>=', f.minDiskGiB);
    if (f.maxDiskGiB !== undefined) q = q.where('sandbox.disk', '<=', f.maxDiskGiB);
    if (f.lastEventAfter) q = q.where('sandbox.lastActivityAt', '>=', new Date(f.lastEventAfter));
    if (f.lastEventBefore) q = q.where('sandbox.lastActivityAt', '<=', new Date(f.lastEventBefore));

    const { total } = await q.clearSelect().select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const sortColumn = {
      id: sql`sandbox.id`,
      state: DERIVED_STATE,
      snapshot: sql`sandbox.snapshot`,
      region: sql`sandbox.region`,
      updatedAt: sql`sandbox.updated_at`,
      createdAt: sql`sandbox.created_at`,
    }[f.sort];
    const direction = f.order === 'asc' ? sql`ASC` : sql`DESC`;
    const items = await q
      .orderBy(sql`${sortColumn} ${direction} NULLS LAST`)
      .orderBy('sandbox.createdAt', 'desc')
      .orderBy('sandbox.id')
      .limit(f.limit)
      .offset(f.offset)
      .execute();
    return { items, total };
  }

  /** Serializes quota checks of one organization: concurrent creates queue on the organization row. */
  async lockOrganization(organizationId: string): Promise<void> {
    await this.db.selectFrom('organization').select('id').where('id', '=', organizationId).forUpdate().execute();
  }

  /**
   * Sandboxes waiting to be started or starting (a create, a start, a restore), other than `exceptOrganization`'s.
   * They are rows whose state is not yet their desired state, which the reconciler's partial index holds.
   */
  async countPendingStarts(exceptOrganization: string): Promise<number> {
    const r = await this.db
      .selectFrom('sandbox')
      .select(sql<number>`count(*)::int`.as('n'))
      .where(sql<SqlBool>`state <> desired_state`)
      .where('desiredState', '=', 'started')
      .where('state', 'in', ['unknown', 'pulling_snapshot', 'creating', 'starting', 'restoring'])
      .where('organizationId', '<>', exceptOrganization)
      .executeTakeFirstOrThrow();
    return r.n;
  }

  /**
   * Compute usage counts what runs or is about to run; disk also counts stopped sandboxes (their files stay). The rule
   * is shoal_organization_usage (migration 19), shared with the claim call.
   */
  async usage(organizationId: string, excludeId?: string): Promise<Usage> {
    const { rows } = await sql<Usage>`SELECT cpu, mem, disk FROM shoal_organization_usage(${organizationId}::uuid, ${excludeId ?? null}::uuid)`.execute(this.db);
    return rows[0]!;
  }

  /**
   * Optimistic transition: applies `set` only if the row still has the state pair the caller checked, so two
   * concurrent user actions cannot both win. Returns false when the row moved in between.
   */
  async transition(id: string, expect: { state: string; desiredState: string }, set: Partial<Record<keyof Sandbox, unknown>>): Promise<boolean> {
    const res = await this.db
      .updateTable('sandbox')
      .set({ ...(set as object), updatedAt: sql`now()`, lastActivityAt: sql`now()` })
      .where('id', '=', id)
      .where('state', '=', expect.state)
      .where('desiredState', '=', expect.desiredState)
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }

  /** `touchActivity` also counts the change as activity (auto-stop and auto-archive start over). */
  async update(id: string, set: Partial<Record<keyof Sandbox, unknown>>, opts: { touchActivity?: boolean } = {}): Promise<SandboxWithRunner | undefined> {
    const res = await this.db
      .updateTable('sandbox')
      .set({ ...(set as object), updatedAt: sql`now()`, ...(opts.touchActivity ? { lastActivityAt: sql`now()` } : {}) })
      .where('id', '=', id)
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return this.findById(id);
  }

  /** A user's DELETE: unconditional, so it may land while a create or start is in flight (destroyed once that settles). */
  async requestDestroy(id: string): Promise<void> {
    await this.update(id, { desiredState: 'destroyed', backupState: 'None' }, { touchActivity: true });
  }

  /** A new DELETE of a sandbox whose destroy gave up (see needsWork): its attempts start over. */
  async rearmDestroy(id: string): Promise<boolean> {
    const res = await this.db
      .updateTable('sandbox')
      .set({ attempts: 0, nextAttemptAt: null, updatedAt: sql`now()`, lastActivityAt: sql`now()` })
      .where('id', '=', id)
      .where('desiredState', '=', 'destroyed')
      .where('state', '<>', 'destroyed')
      .where('attempts', '>', 0)
      .where('nextAttemptAt', 'is', null)
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }

  /**
   * Records a settled state a runner reports, as an observation: one statement, so it cannot interleave with a
   * reconciler claim or a user's action (PostgreSQL re-checks the conditions and recomputes the CASE against the
   * newest row version when it had to wait for a concurrent writer).
   * - Rows being driven right now are left alone: the action's own outcome wins.
   * - `state` (observed) takes the report. `desired_state` follows it only when nothing was pending (state = desired):
   *   the sandbox changed on its own (crashed, was OOM-killed, vanished). While a user's start/stop/delete is pending
   *   the desired state is the user's and stays; the reconciler keeps driving toward it. `error` never moves it.
   * - A sandbox being deleted only accepts `destroyed`.
   * A report without a reason often trails the failed runner call whose answer already gave the precise reason; that
   * reason is kept.
   */
  async applyRunnerReport(id: string, runnerId: string, state: 'started' | 'stopped' | 'destroyed' | 'error', errorReason: string | undefined): Promise<boolean> {
    const followDesired = state !== 'error';
    // Every expression in SET reads the old row, so the CASE sees what was pending before this report.
    const res = await this.db
      .updateTable('sandbox')
      .set({
        state,
        ...(followDesired ? { desiredState: sql`CASE WHEN state = desired_state THEN ${state} ELSE desired_state END` } : {}),
        errorReason: state === 'error' ? sql`coalesce(${errorReason ?? null}::text, error_reason, 'Sandbox failed on runner')` : null,
        ...(state === 'destroyed' ? { destroyedAt: sql`now()` } : {}),
        updatedAt: sql`now()`,
      })
      .where('id', '=', id)
      .where('runnerId', '=', runnerId)
      .where('claimedBy', 'is', null)
      .where('state', '<>', 'destroyed')
      // A report of the state the row already has changes nothing (an error's reason is the exception).
      .where((eb) => (state === 'error' ? eb.lit(true) : eb('state', '<>', state)))
      .where((eb) => eb.or([eb('desiredState', '<>', 'destroyed'), eb(sql.lit(state), '=', 'destroyed')]))
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }

  async regions(organizationId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sandbox')
      .select('region')
      .distinct()
      .where('organizationId', '=', organizationId)
      .where('state', '<>', 'destroyed')
      .orderBy('region')
      .execute();
    return rows.map((r) => r.region);
  }

  forRunner(runnerId: string, states: string[] | undefined): Promise<SandboxWithRunner[]> {
    let q = this.withRunner().where('sandbox.runnerId', '=', runnerId);
    if (states?.length) q = q.where('sandbox.state', 'in', states);
    return q.orderBy('sandbox.createdAt').execute();
  }

  /** Toolbox traffic keeps a sandbox alive; throttled in SQL so a busy sandbox costs one write per 10 s. */
  async bumpActivity(id: string): Promise<void> {
    await this.db
      .updateTable('sandbox')
      .set({ lastActivityAt: sql`now()` })
      .where('id', '=', id)
      .where('lastActivityAt', '<', sql<Date>`now() - interval '10 seconds'`)
      .execute();
  }

  /* ---- reconciler ---- */

  /**
   * Claims up to `limit` sandboxes that need work (or just `id`). Row locks with SKIP LOCKED keep two API processes
   * from claiming the same row; the lease makes a claim of a crashed process expire so another one retries it.
   */
  async claim(owner: string, leaseMs: number, limit: number, id?: string): Promise<Sandbox[]> {
    if (id !== undefined && !isUuid(id)) return [];
    return this.db
      .updateTable('sandbox')
      .set({ claimedBy: owner, claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', 'in', (eb) => {
        let sub = eb.selectFrom('sandbox').select('sandbox.id').where(needsWork);
        if (id !== undefined) sub = sub.where('sandbox.id', '=', id);
        return sub.orderBy('sandbox.updatedAt').limit(limit).forUpdate().skipLocked();
      })
      .returningAll()
      .execute();
  }

  async renewClaim(id: string, owner: string, leaseMs: number): Promise<void> {
    await this.db
      .updateTable('sandbox')
      .set({ claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .execute();
  }

  /** Records the outcome of an action and releases the claim, only if we still hold it. */
  private async finish(id: string, owner: string, set: Partial<Record<keyof Sandbox, unknown>>): Promise<boolean> {
    const res = await this.db
      .updateTable('sandbox')
      .set({ ...(set as object), claimedBy: null, claimExpiresAt: null, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }

  /** Nothing to do after all (the row settled meanwhile): just lets go of the claim. */
  release(id: string, owner: string): Promise<boolean> {
    return this.finish(id, owner, {});
  }

  /** The action succeeded: the row settles in `state` and any retry bookkeeping is cleared; `extra` (e.g. the runner an archive left) with it. */
  settle(id: string, owner: string, state: string, extra: Partial<Record<keyof Sandbox, unknown>> = {}): Promise<boolean> {
    return this.finish(id, owner, {
      ...extra,
      state,
      errorReason: null,
      attempts: 0,
      nextAttemptAt: null,
      lastActivityAt: sql`now()`,
      ...(state === 'destroyed' ? { destroyedAt: sql`now()` } : {}),
    });
  }

  /** The action failed and is retried no earlier than `delayMs` from now; `attempts` failures so far. */
  scheduleRetry(id: string, owner: string, attempts: number, delayMs: number): Promise<boolean> {
    return this.finish(id, owner, { attempts, nextAttemptAt: sql`now() + ${delayMs} * interval '1 millisecond'` });
  }

  /**
   * The action failed for good: the row shows `error` with the reason. `attempts` > 0 (a destroy that used up its
   * attempts) parks the row until a new DELETE re-arms it (see needsWork and rearmDestroy).
   */
  fail(id: string, owner: string, reason: string, attempts = 0): Promise<boolean> {
    return this.finish(id, owner, { state: 'error', errorReason: reason, attempts, nextAttemptAt: null });
  }

  /** Tells every API process listening on `channel` (see SandboxEvents) that `payload` changed. */
  async notify(channel: string, payload: string): Promise<void> {
    await sql`SELECT pg_notify(${channel}, ${payload})`.execute(this.db);
  }

  async runnerOf(runnerId: string) {
    return this.db.selectFrom('runner').selectAll().where('id', '=', runnerId).executeTakeFirst();
  }

  /** Auto-stop, auto-archive and auto-delete as timestamp queries; any API process may run them, they are idempotent. */
  async applyAutoTransitions(): Promise<number> {
    const stop = await sql`UPDATE sandbox SET desired_state = CASE WHEN auto_delete_interval = 0 THEN 'destroyed' ELSE 'stopped' END,
        updated_at = now()
      WHERE state = 'started' AND desired_state = 'started' AND auto_stop_interval > 0
        AND last_activity_at < now() - auto_stop_interval * interval '1 minute'`.execute(this.db);
    const archive = await sql`UPDATE sandbox SET desired_state = 'archived', updated_at = now()
      WHERE state = 'stopped' AND desired_state = 'stopped' AND auto_delete_interval <> 0 AND auto_archive_interval > 0
        AND last_activity_at < now() - auto_archive_interval * interval '1 minute'`.execute(this.db);
    const del = await sql`UPDATE sandbox SET desired_state = 'destroyed', updated_at = now()
      WHERE state IN ('stopped', 'archived') AND desired_state = state AND auto_delete_interval >= 0
        AND last_activity_at < now() - auto_delete_interval * interval '1 minute'`.execute(this.db);
    // A suspension in force past its cleanup grace period stops the organization's running sandboxes, as the
    // reference's cron does; starts are refused while it lasts (sandbox.service.ts), so they stay stopped.
    const suspended = await sql`UPDATE sandbox SET desired_state = CASE WHEN auto_delete_interval = 0 THEN 'destroyed' ELSE 'stopped' END,
        updated_at = now()
      WHERE state = 'started' AND desired_state = 'started'
        AND organization_id IN (${suspendedPastGrace})`.execute(this.db);
    // Destroyed rows are kept a day so that clients polling after DELETE still get an answer.
    await sql`DELETE FROM sandbox WHERE state = 'destroyed' AND destroyed_at < now() - interval '24 hours'`.execute(this.db);
    return [stop, archive, del, suspended].reduce((n, r) => n + Number(r.numAffectedRows ?? 0), 0);
  }
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
