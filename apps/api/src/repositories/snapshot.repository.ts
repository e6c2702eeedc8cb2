import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Runner, Snapshot } from '../db/schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** States the snapshot manager drives; the others are settled. */
export const SNAPSHOT_WORK_STATES = ['pending', 'pulling', 'pending_validation', 'validating', 'removing'] as const;
/** States that count against the organization's snapshot quota (as the reference counts them). */
export const SNAPSHOT_QUOTA_STATES = ['build_pending', 'building', 'pending', 'pulling', 'pending_validation', 'validating', 'active'] as const;

export interface NewSnapshot {
  organizationId: string;
  name: string;
  imageName: string;
  general: boolean;
  entrypoint: string[] | null;
  cpu: number;
  gpu: number;
  mem: number;
  disk: number;
  state?: string;
}

export class SnapshotRepository {
  constructor(private readonly db: Db) {}

  /** Snapshots a sandbox of `organizationId` may use: its own and the general ones. */
  private visible(organizationId: string) {
    return this.db
      .selectFrom('snapshot')
      .selectAll()
      .where((eb) => eb.or([eb('organizationId', '=', organizationId), eb.and([eb('general', '=', true), eb('hideFromUsers', '=', false)])]));
  }

  /** Id first, then name in the organization, then a general snapshot by name. */
  async findByIdOrName(organizationId: string, idOrName: string, allOrgs = false): Promise<Snapshot | undefined> {
    const base = allOrgs ? this.db.selectFrom('snapshot').selectAll() : this.visible(organizationId);
    if (UUID.test(idOrName)) {
      const byId = await base.where('id', '=', idOrName).executeTakeFirst();
      if (byId) return byId;
    }
    return base
      .where('name', '=', idOrName)
      .orderBy(sql`CASE WHEN organization_id = ${organizationId} THEN 0 ELSE 1 END`)
      .limit(1)
      .executeTakeFirst();
  }

  /** A general (platform-wide) snapshot by name: the only kind a warm pool may hold, since any organization claims from it. */
  findGeneralByName(name: string): Promise<Snapshot | undefined> {
    return this.db.selectFrom('snapshot').selectAll().where('name', '=', name).where('general', '=', true).executeTakeFirst();
  }

  findById(id: string): Promise<Snapshot | undefined> {
    if (!UUID.test(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('snapshot').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(organizationId: string, f: { name?: string; sort: string; order: 'asc' | 'desc'; limit: number; offset: number }) {
    let q = this.visible(organizationId);
    if (f.name) q = q.where('name', 'ilike', `%${f.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const { total } = await q.clearSelect().select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const col = ({ name: 'name', state: 'state', lastUsedAt: 'last_used_at', createdAt: 'created_at' } as Record<string, string>)[f.sort] ?? 'last_used_at';
    const items = await q
      // General snapshots sort after the organization's own, as in the reference API.
      .orderBy(sql`general`)
      .orderBy(sql`${sql.ref(col)} ${f.order === 'asc' ? sql`ASC` : sql`DESC`} NULLS LAST`)
      .orderBy('createdAt', 'desc')
      .limit(f.limit)
      .offset(f.offset)
      .execute();
    return { items, total: Number(total) };
  }

  async touch(id: string): Promise<void> {
    await this.db.updateTable('snapshot').set({ lastUsedAt: sql`now()` }).where('id', '=', id).execute();
  }

  /** Snapshots counting against the quota (the reference's "snapshot usage"). */
  async countForQuota(organizationId: string): Promise<number> {
    const r = await this.db
      .selectFrom('snapshot')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organizationId', '=', organizationId)
      .where('state', 'in', [...SNAPSHOT_QUOTA_STATES])
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Serialises quota checks and inserts of one organization (see SnapshotService.create). */
  async lockOrganization(organizationId: string): Promise<void> {
    await this.db.selectFrom('organization').select('id').where('id', '=', organizationId).forUpdate().execute();
  }

  /** Undefined when the name is taken in the organization (unique organization_id + name). */
  async insert(s: NewSnapshot): Promise<Snapshot | undefined> {
    return this.db
      .insertInto('snapshot')
      .values({
        organizationId: s.organizationId,
        name: s.name,
        imageName: s.imageName,
        general: s.general,
        entrypoint: s.entrypoint,
        cpu: s.cpu,
        gpu: s.gpu,
        mem: s.mem,
        disk: s.disk,
        state: s.state ?? 'pending',
      })
      .onConflict((oc) => oc.columns(['organizationId', 'name']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  /** Compare-and-set on the state: a concurrent user action (delete, deactivate) always wins over a stale writer. */
  async transition(id: string, from: readonly string[], set: Partial<Omit<Snapshot, 'id' | 'createdAt'>>): Promise<Snapshot | undefined> {
    return this.db
      .updateTable('snapshot')
      .set({ ...set, updatedAt: sql`now()` } as never)
      .where('id', '=', id)
      .where('state', 'in', [...from])
      .returningAll()
      .executeTakeFirst();
  }

  async setGeneral(id: string, general: boolean): Promise<Snapshot | undefined> {
    return this.db.updateTable('snapshot').set({ general, updatedAt: sql`now()` }).where('id', '=', id).returningAll().executeTakeFirst();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('snapshot').where('id', '=', id).execute();
  }

  /**
   * Claims snapshots needing work for `owner` until the lease expires; SKIP LOCKED keeps two API processes from
   * claiming the same row, and a crashed process's lease lapses so another one picks the row up.
   */
  async claim(owner: string, leaseMs: number, limit: number, id?: string): Promise<Snapshot[]> {
    if (id !== undefined && !UUID.test(id)) return [];
    return this.db
      .updateTable('snapshot')
      .set({ claimedBy: owner, claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', 'in', (eb) => {
        let sub = eb
          .selectFrom('snapshot')
          .select('snapshot.id')
          .where('snapshot.state', 'in', [...SNAPSHOT_WORK_STATES])
          .where((w) => w.or([w('snapshot.claimExpiresAt', 'is', null), w('snapshot.claimExpiresAt', '<', sql<Date>`now()`)]));
        if (id !== undefined) sub = sub.where('snapshot.id', '=', id);
        return sub.orderBy('snapshot.createdAt').limit(limit).forUpdate().skipLocked();
      })
      .returningAll()
      .execute();
  }

  async renewClaim(id: string, owner: string, leaseMs: number): Promise<void> {
    await this.db
      .updateTable('snapshot')
      .set({ claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .execute();
  }

  async release(id: string, owner: string): Promise<void> {
    await this.db.updateTable('snapshot').set({ claimedBy: null, claimExpiresAt: null }).where('id', '=', id).where('claimedBy', '=', owner).execute();
  }

  /** Holds the claim but retries no earlier than `ms` from now (a runner was missing or unreachable). */
  async postpone(id: string, owner: string, ms: number): Promise<void> {
    await this.db
      .updateTable('snapshot')
      .set({ claimExpiresAt: sql`now() + ${ms} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .execute();
  }

  /** A ready, schedulable runner to pull on (least loaded first). */
  pickRunner(): Promise<Runner | undefined> {
    return this.db
      .selectFrom('runner')
      .selectAll()
      .where('state', '=', 'ready')
      .where('unschedulable', '=', false)
      .orderBy('currentStartedSandboxes')
      .orderBy(sql`random()`)
      .limit(1)
      .executeTakeFirst();
  }

  readyRunners(): Promise<Runner[]> {
    return this.db.selectFrom('runner').selectAll().where('state', '=', 'ready').execute();
  }

  runner(id: string): Promise<Runner | undefined> {
    return this.db.selectFrom('runner').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Whether another snapshot still refers to the same image on the runners (so removing it there would break that one). */
  async imageSharedBy(ref: string, exceptId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('snapshot')
      .select('id')
      .where('id', '<>', exceptId)
      .where('state', '<>', 'removing')
      .where((eb) => eb.or([eb('internalName', '=', ref), eb('imageName', '=', ref)]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** An image can go from the runners when no snapshot (other than one being removed) and no live sandbox uses it. */
  async canCleanupImage(imageName: string): Promise<boolean> {
    const snap = await this.db
      .selectFrom('snapshot')
      .select('id')
      .where('state', '<>', 'removing')
      .where((eb) => eb.or([eb('internalName', '=', imageName), eb('imageName', '=', imageName)]))
      .limit(1)
      .executeTakeFirst();
    if (snap) return false;
    const sb = await this.db
      .selectFrom('sandbox')
      .select('id')
      .where('imageRef', '=', imageName)
      .where('state', '<>', 'destroyed')
      .limit(1)
      .executeTakeFirst();
    return sb === undefined;
  }
}
