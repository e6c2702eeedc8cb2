import { sql } from 'kysely';
import type { Db } from '../db/database.js';

export interface KeyLookup {
  organizationId: string;
  userId: string;
  email: string;
  name: string;
  keyHash: string;
  permissions: string[];
  expiresAt: Date | null;
  role: 'admin' | 'user';
  /** The key's user in the key's organization today; null once removed (the key then no longer authenticates). */
  orgRole: 'owner' | 'member' | null;
}

export interface Membership {
  role: 'owner' | 'member';
  /** Union of the permissions of the member's assigned roles. */
  rolePermissions: string[];
}

export class AuthRepository {
  constructor(private readonly db: Db) {}

  findKeyByHash(keyHash: string): Promise<KeyLookup | undefined> {
    return this.db
      .selectFrom('apiKey')
      .innerJoin('user', 'user.id', 'apiKey.userId')
      .leftJoin('organizationUser', (j) =>
        j.onRef('organizationUser.organizationId', '=', 'apiKey.organizationId').onRef('organizationUser.userId', '=', 'apiKey.userId'),
      )
      .select([
        'apiKey.organizationId',
        'apiKey.userId',
        'user.email',
        'apiKey.name',
        'apiKey.keyHash',
        'apiKey.permissions',
        'apiKey.expiresAt',
        'user.role',
        'organizationUser.role as orgRole',
      ])
      .where('apiKey.keyHash', '=', keyHash)
      .executeTakeFirst();
  }

  findRunnerIdByTokenHash(tokenHash: string): Promise<{ id: string } | undefined> {
    return this.db.selectFrom('runner').select('id').where('apiKeyHash', '=', tokenHash).executeTakeFirst();
  }

  /** Throttled in SQL so that a burst of requests costs one write per 10 s per key, whichever API process serves it. */
  async touchKey(keyHash: string): Promise<void> {
    await this.db
      .updateTable('apiKey')
      .set({ lastUsedAt: sql`now()` })
      .where('keyHash', '=', keyHash)
      .where((eb) => eb.or([eb('lastUsedAt', 'is', null), eb('lastUsedAt', '<', sql<Date>`now() - interval '10 seconds'`)]))
      .execute();
  }

  /** The user's membership in an organization with its roles' permissions, or undefined when not a member. */
  async findMembership(organizationId: string, userId: string): Promise<Membership | undefined> {
    const { rows } = await sql<Membership>`
      SELECT ou.role,
             coalesce((SELECT array_agg(DISTINCT p)
                         FROM organization_role_assignment a
                         JOIN organization_role r ON r.id = a.role_id
                         CROSS JOIN unnest(r.permissions) AS p
                        WHERE a.organization_id = ou.organization_id AND a.user_id = ou.user_id), '{}') AS role_permissions
        FROM organization_user ou
       WHERE ou.organization_id = ${organizationId} AND ou.user_id = ${userId}`.execute(this.db);
    return rows[0];
  }

  async organizationExists(organizationId: string): Promise<boolean> {
    const row = await this.db.selectFrom('organization').select('id').where('id', '=', organizationId).executeTakeFirst();
    return row !== undefined;
  }

  /** The personal organization the user owns (created with the user; never deleted). */
  async findPersonalOrganizationId(userId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('organization')
      .innerJoin('organizationUser', 'organizationUser.organizationId', 'organization.id')
      .select('organization.id')
      .where('organization.personal', '=', true)
      .where('organization.createdBy', '=', userId)
      .where('organizationUser.userId', '=', userId)
      .orderBy('organization.createdAt')
      .executeTakeFirst();
    return row?.id;
  }
}
