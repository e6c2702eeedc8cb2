import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { WarmPool } from '../db/schema.js';

/** The placeholder organization pooled sandboxes belong to until claimed (migration 17); no user is ever a member. */
export const WARM_POOL_ORGANIZATION_ID = '00000000-0000-0000-0000-000000000000';

/** What a pool holds: sandboxes of one snapshot, one resource shape and one OS user. */
export interface PoolShape {
  snapshot: string;
  cpu: number;
  gpu: number;
  mem: number;
  disk: number;
  osUser: string;
}

export class WarmPoolRepository {
  constructor(private readonly db: Db) {}

  list(): Promise<WarmPool[]> {
    return this.db.selectFrom('warmPool').selectAll().orderBy('createdAt').execute();
  }

  findById(id: string): Promise<WarmPool | undefined> {
    return this.db.selectFrom('warmPool').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Creates the pool of this shape or sets its size. */
  upsert(shape: PoolShape, size: number): Promise<WarmPool> {
    return this.db
      .insertInto('warmPool')
      .values({ ...shape, size })
      .onConflict((oc) => oc.columns(['snapshot', 'cpu', 'gpu', 'mem', 'disk', 'osUser']).doUpdateSet({ size, updatedAt: sql`now()` }))
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Creates the pool unless one of that shape exists (whatever its size, 0 included). */
  async insertIfAbsent(shape: PoolShape, size: number): Promise<void> {
    await this.db
      .insertInto('warmPool')
      .values({ ...shape, size })
      .onConflict((oc) => oc.columns(['snapshot', 'cpu', 'gpu', 'mem', 'disk', 'osUser']).doNothing())
      .execute();
  }

  async setError(id: string, reason: string | null): Promise<void> {
    await this.db.updateTable('warmPool').set({ errorReason: reason, updatedAt: sql`now()` }).where('id', '=', id).execute();
  }

  async remove(id: string): Promise<void> {
    await this.db.deleteFrom('warmPool').where('id', '=', id).execute();
  }

  /** Pooled sandboxes that are, or are becoming, started: what a pool counts as filled. */
  async liveCounts(): Promise<Map<string, { ready: number; filling: number }>> {
    const rows = await this.db
      .selectFrom('sandbox')
      .select([
        'warmPoolId',
        sql<number>`count(*) FILTER (WHERE state = 'started')::int`.as('ready'),
        sql<number>`count(*) FILTER (WHERE state <> 'started')::int`.as('filling'),
      ])
      .where('warmPoolId', 'is not', null)
      .where('desiredState', '=', 'started')
      .where('state', 'not in', ['error', 'build_failed', 'destroyed'])
      .groupBy('warmPoolId')
      .execute();
    return new Map(rows.map((r) => [r.warmPoolId!, { ready: r.ready, filling: r.filling }]));
  }

  /**
   * Pooled sandboxes that can never serve: failed, or on a runner that takes no new work, or of a pool that is gone or
   * shrank. They are sent to destroyed (never handed out) and their pool records the last failure.
   */
  async retireUnusable(): Promise<{ poolId: string | null; errorReason: string | null }[]> {
    const { rows } = await sql<{ poolId: string | null; errorReason: string | null }>`
      UPDATE sandbox s SET desired_state = 'destroyed', updated_at = now()
       WHERE s.organization_id = ${WARM_POOL_ORGANIZATION_ID} AND s.desired_state <> 'destroyed'
         AND (s.warm_pool_id IS NULL
              OR s.state IN ('error', 'build_failed')
              OR s.runner_id IN (SELECT id FROM runner WHERE unschedulable OR state IN ('disabled', 'decommissioned')))
      RETURNING s.warm_pool_id AS pool_id, s.error_reason`.execute(this.db);
    return rows;
  }

  /** Sends the newest pooled sandboxes beyond `keep` to destroyed (a pool made smaller). */
  async trim(poolId: string, keep: number): Promise<number> {
    const res = await sql`
      UPDATE sandbox SET desired_state = 'destroyed', updated_at = now()
       WHERE id IN (SELECT id FROM sandbox WHERE warm_pool_id = ${poolId} AND desired_state = 'started'
                     AND state NOT IN ('error', 'build_failed', 'destroyed')
                     ORDER BY created_at DESC OFFSET ${keep} FOR UPDATE SKIP LOCKED)`.execute(this.db);
    return Number(res.numAffectedRows ?? 0);
  }

  /** Serializes top-ups of one pool across API replicas for the length of the caller's transaction. */
  async tryLockPool(poolId: string): Promise<boolean> {
    const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(hashtext(${`warm-pool:${poolId}`})) AS locked`.execute(this.db);
    return rows[0]?.locked === true;
  }
}
