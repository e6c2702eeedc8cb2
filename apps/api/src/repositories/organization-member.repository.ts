import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { OrganizationRole } from '../db/schema.js';

export interface MemberRow {
  userId: string;
  organizationId: string;
  name: string;
  email: string;
  role: 'owner' | 'member';
  createdAt: Date;
  updatedAt: Date;
}

/** Members of organizations and the roles assigned to them. Bind to a transaction for multi-step changes. */
export class OrganizationMemberRepository {
  constructor(private readonly db: Db) {}

  list(organizationId: string): Promise<MemberRow[]> {
    return this.memberQuery(organizationId).orderBy('organizationUser.createdAt').execute();
  }

  find(organizationId: string, userId: string): Promise<MemberRow | undefined> {
    return this.memberQuery(organizationId).where('organizationUser.userId', '=', userId).executeTakeFirst();
  }

  /** Locks the organization's membership rows, so two concurrent demotions cannot both see another owner. */
  async lockMembers(organizationId: string): Promise<void> {
    await this.db.selectFrom('organizationUser').select('userId').where('organizationId', '=', organizationId).forUpdate().execute();
  }

  async countOwners(organizationId: string): Promise<number> {
    const r = await this.db
      .selectFrom('organizationUser')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organizationId', '=', organizationId)
      .where('role', '=', 'owner')
      .executeTakeFirstOrThrow();
    return r.n;
  }

  /** Assigned roles of the given members (all members when userIds is omitted), keyed by user id. */
  async assignedRoles(organizationId: string, userIds?: string[]): Promise<Map<string, OrganizationRole[]>> {
    let q = this.db
      .selectFrom('organizationRoleAssignment')
      .innerJoin('organizationRole', 'organizationRole.id', 'organizationRoleAssignment.roleId')
      .selectAll('organizationRole')
      .select('organizationRoleAssignment.userId as assigneeId')
      .where('organizationRoleAssignment.organizationId', '=', organizationId);
    if (userIds) {
      if (userIds.length === 0) return new Map();
      q = q.where('organizationRoleAssignment.userId', 'in', userIds);
    }
    const rows = await q.orderBy('organizationRole.isGlobal', 'desc').orderBy('organizationRole.name').execute();
    const out = new Map<string, OrganizationRole[]>();
    for (const { assigneeId, ...role } of rows) {
      const list = out.get(assigneeId) ?? [];
      list.push(role);
      out.set(assigneeId, list);
    }
    return out;
  }

  /** Adds a member (accepting an invitation); false when the user already is one. */
  async add(organizationId: string, userId: string, role: 'owner' | 'member'): Promise<boolean> {
    const r = await this.db
      .insertInto('organizationUser')
      .values({ organizationId, userId, role })
      .onConflict((oc) => oc.columns(['organizationId', 'userId']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async setRole(organizationId: string, userId: string, role: 'owner' | 'member'): Promise<void> {
    await this.db
      .updateTable('organizationUser')
      .set({ role, updatedAt: sql`now()` })
      .where('organizationId', '=', organizationId)
      .where('userId', '=', userId)
      .execute();
  }

  async replaceAssignedRoles(organizationId: string, userId: string, roleIds: string[]): Promise<void> {
    await this.db.deleteFrom('organizationRoleAssignment').where('organizationId', '=', organizationId).where('userId', '=', userId).execute();
    if (roleIds.length) {
      await this.db
        .insertInto('organizationRoleAssignment')
        .values(roleIds.map((roleId) => ({ organizationId, userId, roleId })))
        .execute();
    }
  }

  /** Removes the member (their role assignments cascade) and every API key they hold in the organization. */
  async remove(organizationId: string, userId: string): Promise<boolean> {
    await this.db.deleteFrom('apiKey').where('organizationId', '=', organizationId).where('userId', '=', userId).execute();
    const r = await this.db.deleteFrom('organizationUser').where('organizationId', '=', organizationId).where('userId', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * Deletes the API keys of the organization's members (one member, or all) that hold a permission the member no
   * longer has: a member's permissions are the union of its assigned roles (owners hold all and are never pruned).
   * Returns the number of keys deleted.
   */
  async pruneKeysBeyondRoles(organizationId: string, userId?: string): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      WITH deleted AS (
        DELETE FROM api_key k
         USING organization_user ou
         WHERE ou.organization_id = k.organization_id AND ou.user_id = k.user_id
           AND ou.role = 'member'
           AND k.organization_id = ${organizationId}
           ${userId !== undefined ? sql`AND k.user_id = ${userId}` : sql``}
           AND NOT (k.permissions <@ coalesce((SELECT array_agg(DISTINCT p)
                                                 FROM organization_role_assignment a
                                                 JOIN organization_role r ON r.id = a.role_id
                                                 CROSS JOIN unnest(r.permissions) AS p
                                                WHERE a.organization_id = ou.organization_id AND a.user_id = ou.user_id), '{}'::text[]))
        RETURNING 1)
      SELECT count(*)::int AS n FROM deleted`.execute(this.db);
    return rows[0]?.n ?? 0;
  }

  async userEmail(userId: string): Promise<{ email: string; emailVerified: boolean; name: string } | undefined> {
    return this.db.selectFrom('user').select(['email', 'emailVerified', 'name']).where('id', '=', userId).executeTakeFirst();
  }

  /** Whether a user whose address is `email` (lower-cased) already belongs to the organization. */
  async hasMemberWithEmail(organizationId: string, email: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('organizationUser')
      .innerJoin('user', 'user.id', 'organizationUser.userId')
      .select('user.id')
      .where('organizationUser.organizationId', '=', organizationId)
      .where(sql`lower(${sql.ref('user.email')})`, '=', email)
      .executeTakeFirst();
    return row !== undefined;
  }

  private memberQuery(organizationId: string) {
    return this.db
      .selectFrom('organizationUser')
      .innerJoin('user', 'user.id', 'organizationUser.userId')
      .select([
        'organizationUser.userId',
        'organizationUser.organizationId',
        'user.name',
        'user.email',
        'organizationUser.role',
        'organizationUser.createdAt',
        'organizationUser.updatedAt',
      ])
      .where('organizationUser.organizationId', '=', organizationId);
  }
}
