import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Organization, Snapshot } from '../db/schema.js';
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
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrName)) {
      const byId = await base.where('id', '=', idOrName).executeTakeFirst();
      if (byId) return byId;
    }
    return base
      .where('name', '=', idOrName)
      .orderBy(sql`CASE WHEN organization_id = ${organizationId} THEN 0 ELSE 1 END`)
      .limit(1)
      .executeTakeFirst();
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
    return { items, total };
  }

  async touch(id: string): Promise<void> {
    await this.db.updateTable('snapshot').set({ lastUsedAt: sql`now()` }).where('id', '=', id).execute();
  }
}

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
