import { sql } from 'kysely';
import { runnerTokenHash } from '@shoal/contracts';
import type { Db } from '../db/database.js';
import type { Runner } from '../db/schema.js';
import type { CreateRunnerBody } from '../schemas.js';

export class RunnerRepository {
  constructor(private readonly db: Db) {}

  /** Registering the same domain again updates it in place: `shoal up` re-registers its runner on every start. */
  async upsert(b: CreateRunnerBody): Promise<{ runner: Runner; created: boolean }> {
    const values = {
      domain: b.domain,
      apiUrl: b.apiUrl,
      proxyUrl: b.proxyUrl,
      apiKeyHash: runnerTokenHash(b.apiKey),
      cpu: b.cpu,
      memoryGib: b.memoryGiB,
      diskGib: b.diskGiB,
      gpu: b.gpu ?? 0,
      gpuType: b.gpuType ?? '',
      class: b.class ?? 'small',
      region: b.region ?? 'us',
      version: b.version ?? '0',
    };
    const row = await this.db
      .insertInto('runner')
      .values(values)
      .onConflict((oc) => oc.column('domain').doUpdateSet({ ...values, updatedAt: sql`now()`, lastChecked: null, checkClaimedUntil: null }))
      .returningAll()
      .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
      .executeTakeFirstOrThrow();
    const { inserted, ...runner } = row as Runner & { inserted: boolean };
    return { runner, created: inserted };
  }

  list(): Promise<Runner[]> {
    return this.db.selectFrom('runner').selectAll().orderBy('createdAt').execute();
  }

  findById(id: string): Promise<Runner | undefined> {
    return this.db.selectFrom('runner').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async setUnschedulable(id: string, unschedulable: boolean): Promise<Runner | undefined> {
    return this.db
      .updateTable('runner')
      .set({ unschedulable, updatedAt: sql`now()` })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /** Claims runners whose health check is due; the claim keeps other API processes from probing them too. */
  claimDueChecks(intervalMs: number, leaseMs: number): Promise<Runner[]> {
    return this.db
      .updateTable('runner')
      .set({ checkClaimedUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('runner')
          .select('id')
          .where('state', 'not in', ['disabled', 'decommissioned'])
          .where((w) => w.or([w('lastChecked', 'is', null), w('lastChecked', '<', sql<Date>`now() - ${intervalMs} * interval '1 millisecond'`)]))
          .where((w) => w.or([w('checkClaimedUntil', 'is', null), w('checkClaimedUntil', '<', sql<Date>`now()`)]))
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
  }

  async recordCheck(id: string, set: Partial<Record<keyof Runner, unknown>>): Promise<void> {
    await this.db
      .updateTable('runner')
      .set({ ...(set as object), lastChecked: sql`now()`, checkClaimedUntil: null, updatedAt: sql`now()` })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Least-loaded ready, schedulable runner (allocated CPU over capacity, then started sandboxes). `region` limits the
   * choice when the client asked for a target. Allocation is computed from the sandbox table, so it is current even
   * between health checks.
   */
  async pickForSandbox(region: string | undefined): Promise<Runner | undefined> {
    let q = this.db
      .selectFrom('runner')
      .leftJoin('sandbox', (j) =>
        j.onRef('sandbox.runnerId', '=', 'runner.id').on(sql<boolean>`sandbox.state NOT IN ('destroyed', 'error', 'archived')`),
      )
      .selectAll('runner')
      .where('runner.state', '=', 'ready')
      .where('runner.unschedulable', '=', false)
      .groupBy('runner.id')
      .orderBy(sql`coalesce(sum(sandbox.cpu) FILTER (WHERE sandbox.desired_state = 'started'), 0)::float / greatest(runner.cpu, 1)`)
      .orderBy(sql`count(sandbox.id) FILTER (WHERE sandbox.state = 'started')`)
      .orderBy(sql`random()`)
      .limit(1);
    if (region) q = q.where('runner.region', '=', region);
    return q.executeTakeFirst();
  }
}
