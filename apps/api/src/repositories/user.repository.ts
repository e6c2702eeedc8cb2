import type { Db } from '../db/database.js';
import type { Organization, User } from '../db/schema.js';

export interface NewUserWithOrganization {
  id: string;
  name: string;
  email: string;
  role: 'admin' | 'user';
  /** Quota columns of the personal organization that differ from the defaults. */
  quota: Record<string, number>;
  /** A full-permission key of the personal organization, stored as its hash. */
  apiKey?: { keyHash: string; keySuffix: string; permissions: string[] };
}

export class UserRepository {
  constructor(private readonly db: Db) {}

  findById(id: string): Promise<User | undefined> {
    return this.db.selectFrom('user').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(): Promise<User[]> {
    return this.db.selectFrom('user').selectAll().orderBy('createdAt').execute();
  }

  /**
   * The user, its personal organization (owned by it) and optionally a key, in one transaction. Returns undefined when
   * a user with that id already exists (nothing is written).
   */
  async createWithPersonalOrganization(u: NewUserWithOrganization): Promise<{ user: User; organization: Organization } | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const user = await trx
        .insertInto('user')
        .values({ id: u.id, name: u.name, email: u.email, role: u.role })
        .onConflict((oc) => oc.column('id').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!user) return undefined;
      const organization = await trx
        .insertInto('organization')
        .values({ name: 'Personal', createdBy: u.id, personal: true, ...u.quota })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.insertInto('organizationUser').values({ organizationId: organization.id, userId: u.id, role: 'owner' }).execute();
      if (u.apiKey) {
        await trx
          .insertInto('apiKey')
          .values({
            organizationId: organization.id,
            userId: u.id,
            name: 'default',
            keyHash: u.apiKey.keyHash,
            keyPrefix: 'dtn',
            keySuffix: u.apiKey.keySuffix,
            permissions: u.apiKey.permissions,
          })
          .execute();
      }
      return { user, organization };
    });
  }
}
