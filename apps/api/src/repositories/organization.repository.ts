import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Organization } from '../db/schema.js';
import type { UpdateOrganizationQuota } from '../schemas.js';
import { WARM_POOL_ORGANIZATION_ID } from './warm-pool.repository.js';

const UUID = /^[0-9a-f-]{36}$/i;

/** Organizations whose suspension is in force and older than its cleanup grace period (the reference's rule). */
export const suspendedPastGrace = sql`SELECT id FROM organization
  WHERE suspended AND suspended_at IS NOT NULL
    AND suspended_at < now() - suspension_cleanup_grace_period_hours * interval '1 hour'
    AND (suspended_until IS NULL OR suspended_until > now())`;

export interface Membership {
  role: 'owner' | 'member';
  /** Union of the permissions of the member's assigned roles (owners hold every permission regardless). */
  rolePermissions: string[];
}

export class OrganizationRepository {
  constructor(private readonly db: Db) {}

  /** The warm pool's placeholder organization (migration 17) is never found: no route may read or change it. */
  findById(id: string): Promise<Organization | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id) || id === WARM_POOL_ORGANIZATION_ID) return Promise.resolve(undefined);
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
    if (!UUID.test(id)) return undefined;
    // Only the quota columns: the body schema lets unknown fields through, and naming them in SET was a 500.
    const set = quotaColumns(q);
    if (Object.keys(set).length === 0) return this.findById(id);
    return this.db
      .updateTable('organization')
      .set({ ...set, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('id', '<>', WARM_POOL_ORGANIZATION_ID)
      .returningAll()
      .executeTakeFirst();
  }

  async setSandboxLimitedNetworkEgress(id: string, limited: boolean): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
    const r = await this.db
      .updateTable('organization')
      .set({ sandboxLimitedNetworkEgress: limited, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('id', '<>', WARM_POOL_ORGANIZATION_ID)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /**
   * The organization and its creator as owner, in one transaction; undefined when the user already created `limit`
   * non-personal ones. The user's row is locked first, so concurrent creates of one user cannot pass the limit together.
   */
  async createWithOwner(name: string, userId: string, limit: number | null): Promise<Organization | undefined> {
    return this.db.transaction().execute(async (trx) => {
      if (limit !== null) {
        await trx.selectFrom('user').select('id').where('id', '=', userId).forUpdate().execute();
        const { n } = await trx
          .selectFrom('organization')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('createdBy', '=', userId)
          .where('personal', '=', false)
          .executeTakeFirstOrThrow();
        if (n >= limit) return undefined;
      }
      const org = await trx.insertInto('organization').values({ name, createdBy: userId, personal: false }).returningAll().executeTakeFirstOrThrow();
      await trx.insertInto('organizationUser').values({ organizationId: org.id, userId, role: 'owner' }).execute();
      return org;
    });
  }

  /** What still lives in the organization and would be cut off from its runner copies by a cascading delete. */
  async remainingResources(organizationId: string): Promise<{ sandboxes: number; snapshots: number }> {
    const r = await this.db
      .selectNoFrom((eb) => [
        eb.selectFrom('sandbox').select(eb.fn.countAll<number>().as('n')).where('organizationId', '=', organizationId).where('state', '<>', 'destroyed').as('sandboxes'),
        eb.selectFrom('snapshot').select(eb.fn.countAll<number>().as('n')).where('organizationId', '=', organizationId).as('snapshots'),
      ])
      .executeTakeFirstOrThrow();
    return { sandboxes: Number(r.sandboxes ?? 0), snapshots: Number(r.snapshots ?? 0) };
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('organization').where('id', '=', id).where('id', '<>', WARM_POOL_ORGANIZATION_ID).where('personal', '=', false).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async suspend(id: string, s: { reason: string; until: Date | null; gracePeriodHours: number | null }): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const r = await this.db
      .updateTable('organization')
      .set({
        suspended: true,
        suspendedAt: sql`now()`,
        suspensionReason: s.reason,
        suspendedUntil: s.until,
        ...(s.gracePeriodHours !== null ? { suspensionCleanupGracePeriodHours: s.gracePeriodHours } : {}),
        updatedAt: sql`now()`,
      })
      .where('id', '=', id)
      .where('id', '<>', WARM_POOL_ORGANIZATION_ID)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async unsuspend(id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    const r = await this.db
      .updateTable('organization')
      .set({ suspended: false, suspendedAt: null, suspensionReason: null, suspendedUntil: null, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('id', '<>', WARM_POOL_ORGANIZATION_ID)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  findBySandboxId(sandboxId: string): Promise<Organization | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(sandboxId)) return Promise.resolve(undefined);
    return this.db
      .selectFrom('organization')
      .innerJoin('sandbox', 'sandbox.organizationId', 'organization.id')
      .selectAll('organization')
      .where('sandbox.id', '=', sandboxId)
      .where('organization.id', '<>', WARM_POOL_ORGANIZATION_ID)
      .executeTakeFirst();
  }

  /** The user's role in the organization and the union of its assigned roles' permissions; undefined if not a member. */
  async membership(organizationId: string, userId: string): Promise<Membership | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(organizationId)) return undefined;
    const { rows } = await sql<Membership>`
      SELECT ou.role,
             coalesce((SELECT array_agg(DISTINCT p ORDER BY p)
                         FROM organization_role_assignment a
                         JOIN organization_role r ON r.id = a.role_id
                         CROSS JOIN unnest(r.permissions) AS p
                        WHERE a.organization_id = ou.organization_id AND a.user_id = ou.user_id), '{}') AS role_permissions
        FROM organization_user ou
       WHERE ou.organization_id = ${organizationId} AND ou.user_id = ${userId}`.execute(this.db);
    return rows[0];
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

/**
 * The quota columns among `q`'s keys, with their values: request bodies let unknown fields through, and an unknown
 * key named as a column is a 500 (or, for a numeric column outside the quota, a write nobody asked for).
 */
export function quotaColumns(q: Record<string, unknown>): Partial<Record<(typeof QUOTA_COLUMNS)[number], number>> {
  const picked: Partial<Record<(typeof QUOTA_COLUMNS)[number], number>> = {};
  for (const k of QUOTA_COLUMNS) if (typeof q[k] === 'number') picked[k] = q[k];
  return picked;
}
