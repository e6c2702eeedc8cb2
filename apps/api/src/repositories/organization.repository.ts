import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Organization } from '../db/schema.js';
import type { UpdateOrganizationQuota } from '../schemas.js';

export class OrganizationRepository {
  constructor(private readonly db: Db) {}

  findById(id: string): Promise<Organization | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('organization').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listForUser(userId: string): Promise<Organization[]> {
    return this.db
      .selectFrom('organization')
      .innerJoin('organizationUser', 'organizationUser.organizationId', 'organization.id')
      .selectAll('organization')
      .where('organizationUser.userId', '=', userId)
      .orderBy('organization.createdAt')
      .execute();
  }

  async isMember(organizationId: string, userId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('organizationUser')
      .select('userId')
      .where('organizationId', '=', organizationId)
      .where('userId', '=', userId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async updateQuota(id: string, q: UpdateOrganizationQuota): Promise<Organization | undefined> {
    // Only the quota columns: the body schema lets unknown fields through, and naming them in SET was a 500.
    const set: Record<string, unknown> = {};
    for (const k of QUOTA_COLUMNS) if (q[k] !== null && q[k] !== undefined) set[k] = q[k];
    if (Object.keys(set).length === 0) return this.findById(id);
    return this.db
      .updateTable('organization')
      .set({ ...set, updatedAt: sql`now()` })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async setSandboxLimitedNetworkEgress(id: string, limited: boolean): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
    const r = await this.db
      .updateTable('organization')
      .set({ sandboxLimitedNetworkEgress: limited, updatedAt: sql`now()` })
      .where('id', '=', id)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async counts(organizationId: string): Promise<{ snapshots: number }> {
    const r = await this.db
      .selectFrom('snapshot')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organizationId', '=', organizationId)
      .where('state', 'in', ['build_pending', 'building', 'pending', 'pulling', 'pending_validation', 'validating', 'active'])
      .executeTakeFirstOrThrow();
    return { snapshots: r.n };
  }
}

/** Kept here for callers written before snapshots got their own module. */
export { SnapshotRepository } from './snapshot.repository.js';

const QUOTA_COLUMNS = [
  'totalCpuQuota',
  'totalMemoryQuota',
  'totalDiskQuota',
  'maxCpuPerSandbox',
  'maxMemoryPerSandbox',
  'maxDiskPerSandbox',
  'snapshotQuota',
  'maxSnapshotSize',
  'volumeQuota',
] as const satisfies ReadonlyArray<keyof UpdateOrganizationQuota>;
