import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Runner, Snapshot } from '../db/schema.js';

export interface NewBuildSnapshot {
  organizationId: string;
  name: string;
  imageName: string;
  internalName: string;
  buildInfoSnapshotRef: string;
  cpu: number;
  gpu: number;
  mem: number;
  disk: number;
  hideFromUsers: boolean;
}

/** SQL of the build pipeline: build_info rows, the snapshots built from them and the sandboxes waiting on them. */
export class BuildInfoRepository {
  constructor(private readonly db: Db) {}

  /** Creates the row for this build, or marks the existing one used. */
  async upsert(snapshotRef: string, dockerfileContent: string, contextHashes: string[]): Promise<void> {
    await this.db
      .insertInto('buildInfo')
      .values({ snapshotRef, dockerfileContent, contextHashes, lastUsedAt: sql`now()`, createdAt: sql`now()`, updatedAt: sql`now()` })
      .onConflict((oc) => oc.column('snapshotRef').doUpdateSet({ lastUsedAt: sql`now()`, updatedAt: sql`now()` }))
      .execute();
  }

  find(snapshotRef: string) {
    return this.db.selectFrom('buildInfo').selectAll().where('snapshotRef', '=', snapshotRef).executeTakeFirst();
  }

  /** The organization's snapshot built from `snapshotRef` that is not being removed, newest first. */
  findSnapshot(organizationId: string, snapshotRef: string): Promise<Snapshot | undefined> {
    return this.db
      .selectFrom('snapshot')
      .selectAll()
      .where('organizationId', '=', organizationId)
      .where('buildInfoSnapshotRef', '=', snapshotRef)
      .where('state', 'not in', ['removing'])
      .orderBy('createdAt', 'desc')
      .executeTakeFirst();
  }

  findSnapshotById(id: string): Promise<Snapshot | undefined> {
    return this.db.selectFrom('snapshot').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Inserts a snapshot in build_pending; undefined when the organization already has that name. */
  insertSnapshot(s: NewBuildSnapshot): Promise<Snapshot | undefined> {
    return this.db
      .insertInto('snapshot')
      .values({ ...s, state: 'build_pending', createdAt: sql`now()`, updatedAt: sql`now()` })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Removes a build snapshot that never started building and that no sandbox waits on: what a refused create (quota,
   * network rules) inserted before the refusal. A concurrent create that already joined it keeps it.
   */
  async deleteUnstartedSnapshot(id: string): Promise<void> {
    await this.db
      .deleteFrom('snapshot')
      .where('id', '=', id)
      .where('state', '=', 'build_pending')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('sandbox')
              .select('sandbox.id')
              .whereRef('sandbox.organizationId', '=', 'snapshot.organizationId')
              .whereRef('sandbox.buildInfoSnapshotRef', '=', 'snapshot.buildInfoSnapshotRef')
              .where('sandbox.state', '<>', 'destroyed'),
          ),
        ),
      )
      .execute();
  }

  /** Compare-and-set of a snapshot's state; false when another writer moved it first. */
  async transitionSnapshot(id: string, from: string[], set: Partial<Record<keyof Snapshot, unknown>>): Promise<boolean> {
    const r = await this.db
      .updateTable('snapshot')
      .set({ ...(set as object), updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Moves the sandboxes waiting on a build (desired started) from one of `from` to `set`; returns how many. */
  async updateWaitingSandboxes(snapshotRef: string, organizationId: string, from: string[], set: Record<string, unknown>): Promise<number> {
    const r = await this.db
      .updateTable('sandbox')
      .set({ ...set, updatedAt: sql`now()` })
      .where('buildInfoSnapshotRef', '=', snapshotRef)
      .where('organizationId', '=', organizationId)
      .where('state', 'in', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Sandboxes still waiting on a build (not deleted meanwhile). */
  async countWaitingSandboxes(snapshotRef: string, organizationId: string): Promise<number> {
    const r = await this.db
      .selectFrom('sandbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('buildInfoSnapshotRef', '=', snapshotRef)
      .where('organizationId', '=', organizationId)
      .where('state', 'in', ['pending_build', 'building_snapshot'])
      .where('desiredState', '=', 'started')
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /**
   * Claims builds to drive (build_pending or building) for `owner` until the lease expires. SKIP LOCKED keeps two API
   * processes off the same row; a dead driver's lease lapses and another process takes the build over.
   */
  claimBuilds(owner: string, leaseMs: number, limit: number): Promise<Snapshot[]> {
    return this.db
      .updateTable('snapshot')
      .set({ claimedBy: owner, claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('snapshot')
          .select('snapshot.id')
          .where('snapshot.state', 'in', ['build_pending', 'building'])
          .where((w) => w.or([w('snapshot.claimExpiresAt', 'is', null), w('snapshot.claimExpiresAt', '<', sql<Date>`now()`)]))
          .orderBy('snapshot.createdAt')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
  }

  async renewBuildClaim(id: string, owner: string, leaseMs: number): Promise<void> {
    await this.postponeBuildClaim(id, owner, leaseMs);
  }

  /** Keeps the claim but lets the row be driven again (by anyone) only `ms` from now. */
  async postponeBuildClaim(id: string, owner: string, ms: number): Promise<void> {
    await this.db
      .updateTable('snapshot')
      .set({ claimExpiresAt: sql`now() + ${ms} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .execute();
  }

  async releaseBuildClaim(id: string, owner: string): Promise<void> {
    await this.db.updateTable('snapshot').set({ claimedBy: null, claimExpiresAt: null }).where('id', '=', id).where('claimedBy', '=', owner).execute();
  }

  /** The runner a sandbox waiting on this build was placed on, so the build runs where that sandbox will start. */
  async waitingSandboxRunner(snapshotRef: string, organizationId: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('sandbox')
      .select('runnerId')
      .where('buildInfoSnapshotRef', '=', snapshotRef)
      .where('organizationId', '=', organizationId)
      .where('state', 'in', ['pending_build', 'building_snapshot'])
      .where('runnerId', 'is not', null)
      .orderBy('createdAt')
      .limit(1)
      .executeTakeFirst();
    return r?.runnerId ?? undefined;
  }

  /** The organization's sandboxLimitedNetworkEgress, which its builds' RUN steps get too. */
  async organizationLimitedEgress(organizationId: string): Promise<boolean> {
    const r = await this.db.selectFrom('organization').select('sandboxLimitedNetworkEgress').where('id', '=', organizationId).executeTakeFirst();
    return r?.sandboxLimitedNetworkEgress === true;
  }

  runner(id: string): Promise<Runner | undefined> {
    return this.db.selectFrom('runner').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** A ready, schedulable runner for a build that no sandbox placed yet. */
  pickRunner(): Promise<Runner | undefined> {
    return this.db
      .selectFrom('runner')
      .selectAll()
      .where('state', '=', 'ready')
      .where('unschedulable', '=', false)
      .orderBy(sql`random()`)
      .executeTakeFirst();
  }

  /** Wakes every API replica's reconciler (a sandbox left pending_build for `unknown` needs creating). */
  async notifyWork(): Promise<void> {
    await sql`SELECT pg_notify('shoal_sandbox_work', 'build')`.execute(this.db);
  }
}
