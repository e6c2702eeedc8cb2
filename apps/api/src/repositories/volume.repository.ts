import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Runner, Volume } from '../db/schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** States the volume manager drives; the others are settled. */
export const VOLUME_WORK_STATES = ['pending_create', 'creating', 'pending_delete', 'deleting'] as const;
/** States that count against the organization's volume quota (as the reference counts them). */
export const VOLUME_QUOTA_STATES = ['pending_create', 'creating', 'ready', 'pending_delete', 'deleting'] as const;

export class VolumeRepository {
  constructor(private readonly db: Db) {}

  /** Serializes quota checks of one organization (the same row lock sandboxes and snapshots take). */
  async lockOrganization(organizationId: string): Promise<void> {
    await this.db.selectFrom('organization').select('id').where('id', '=', organizationId).forUpdate().execute();
  }

  /** Undefined when the name is taken in the organization by a volume that is not deleted. */
  async insert(v: { id?: string; organizationId: string; name: string }): Promise<Volume | undefined> {
    return this.db
      .insertInto('volume')
      .values(v)
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  findById(id: string): Promise<Volume | undefined> {
    if (!UUID.test(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('volume').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByName(organizationId: string, name: string): Promise<Volume | undefined> {
    // PostgreSQL text cannot hold NUL (the query would fail): no stored name has one.
    if (name.includes('\u0000')) return Promise.resolve(undefined);
    return this.db.selectFrom('volume').selectAll().where('organizationId', '=', organizationId).where('name', '=', name).where('state', '<>', 'deleted').executeTakeFirst();
  }

  /** For admins: the oldest volume not deleted with that name, whichever its organization. */
  findByNameInAnyOrganization(name: string): Promise<Volume | undefined> {
    if (name.includes('\u0000')) return Promise.resolve(undefined);
    return this.db.selectFrom('volume').selectAll().where('name', '=', name).where('state', '<>', 'deleted').orderBy('createdAt').limit(1).executeTakeFirst();
  }

  /** A volume of the organization by id, else by name; deleted volumes are not found. */
  async findByIdOrName(organizationId: string, idOrName: string): Promise<Volume | undefined> {
    if (UUID.test(idOrName)) {
      const byId = await this.db
        .selectFrom('volume')
        .selectAll()
        .where('id', '=', idOrName)
        .where('organizationId', '=', organizationId)
        .where('state', '<>', 'deleted')
        .executeTakeFirst();
      if (byId) return byId;
    }
    return this.findByName(organizationId, idOrName);
  }

  /** Most recently used first, never-used ones by creation, newest first (the reference's order). */
  list(organizationId: string, includeDeleted: boolean): Promise<Volume[]> {
    let q = this.db.selectFrom('volume').selectAll().where('organizationId', '=', organizationId);
    if (!includeDeleted) q = q.where('state', '<>', 'deleted');
    return q.orderBy(sql`last_used_at DESC NULLS LAST`).orderBy('createdAt', 'desc').execute();
  }

  async countForQuota(organizationId: string): Promise<number> {
    const r = await this.db
      .selectFrom('volume')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organizationId', '=', organizationId)
      .where('state', 'in', [...VOLUME_QUOTA_STATES])
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Moves a volume from one of `from` to `state`; undefined when it was in none of them (someone else moved it). */
  transition(id: string, from: readonly string[], state: string, errorReason: string | null = null): Promise<Volume | undefined> {
    return this.db
      .updateTable('volume')
      .set({ state, errorReason, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('state', 'in', [...from])
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Locks the volumes a sandbox create mounts until its transaction ends (FOR SHARE: creates do not wait for each
   * other), so a delete that locks the volume FOR UPDATE sees the new sandbox, or the create sees the volume leave
   * `ready`.
   */
  lockForMount(ids: string[]): Promise<Volume[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('volume').selectAll().where('id', 'in', ids).forShare().execute();
  }

  lockForDelete(id: string): Promise<Volume | undefined> {
    return this.db.selectFrom('volume').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  }

  /** Sandboxes that still hold the volume: every sandbox whose row names it and that is not destroyed yet. */
  async sandboxesUsing(volumeId: string, limit = 10): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sandbox')
      .select('id')
      .where('state', '<>', 'destroyed')
      .where(sql<boolean>`volumes @> jsonb_build_array(jsonb_build_object('volumeId', ${volumeId}::text))`)
      .orderBy('createdAt')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async touch(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('volume').set({ lastUsedAt: sql`now()` }).where('id', 'in', ids).execute();
  }

  /** Runners whose local volume data must go when a volume is deleted: every registered one, whatever its state. */
  runners(): Promise<Runner[]> {
    return this.db.selectFrom('runner').selectAll().orderBy('createdAt').execute();
  }

  /** Claims volumes needing work for `owner` until the lease expires (SKIP LOCKED, as snapshots are claimed). */
  claim(owner: string, leaseMs: number, limit: number): Promise<Volume[]> {
    return this.db
      .updateTable('volume')
      .set({ claimedBy: owner, claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('volume')
          .select('volume.id')
          .where('volume.state', 'in', [...VOLUME_WORK_STATES])
          .where((w) => w.or([w('volume.claimExpiresAt', 'is', null), w('volume.claimExpiresAt', '<', sql<Date>`now()`)]))
          .orderBy('volume.createdAt')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
  }

  /** Claims one volume if no live lease holds it (the create request provisions its own volume at once). */
  async claimOne(id: string, owner: string, leaseMs: number): Promise<Volume | undefined> {
    return this.db
      .updateTable('volume')
      .set({ claimedBy: owner, claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('state', 'in', [...VOLUME_WORK_STATES])
      .where((w) => w.or([w('claimExpiresAt', 'is', null), w('claimExpiresAt', '<', sql<Date>`now()`)]))
      .returningAll()
      .executeTakeFirst();
  }

  async renew(id: string, owner: string, leaseMs: number): Promise<void> {
    await this.db
      .updateTable('volume')
      .set({ claimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .execute();
  }

  async postpone(id: string, owner: string, ms: number): Promise<void> {
    await this.db
      .updateTable('volume')
      .set({ claimExpiresAt: sql`now() + ${ms} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('claimedBy', '=', owner)
      .execute();
  }

  async release(id: string, owner: string): Promise<void> {
    await this.db.updateTable('volume').set({ claimedBy: null, claimExpiresAt: null }).where('id', '=', id).where('claimedBy', '=', owner).execute();
  }
}
