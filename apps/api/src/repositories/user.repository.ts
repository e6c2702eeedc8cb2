import type { Db } from '../db/database.js';
import type { Organization, StoredKeyPair, User } from '../db/schema.js';
import { quotaColumns } from './organization.repository.js';

export interface NewUserWithOrganization {
  id: string;
  name: string;
  email: string;
  role: 'admin' | 'user';
  emailVerified?: boolean;
  /** The user's SSH key pair (private key encrypted at rest, see auth/user-key-pair.ts). */
  keyPair?: StoredKeyPair;
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

  /** Fills in what a later token tells about the user (verified address, a name or e-mail that was missing). */
  async updateProfile(id: string, patch: { name?: string; email?: string; emailVerified?: boolean }): Promise<User | undefined> {
    if (!Object.keys(patch).length) return this.findById(id);
    return this.db.updateTable('user').set(patch).where('id', '=', id).returningAll().executeTakeFirst();
  }

  async setKeyPair(id: string, keyPair: StoredKeyPair): Promise<User | undefined> {
    return this.db.updateTable('user').set({ keyPair: JSON.stringify(keyPair) }).where('id', '=', id).returningAll().executeTakeFirst();
  }

  /**
   * The user, its personal organization (owned by it) and optionally a key, in one transaction. Returns undefined when
   * a user with that id already exists (nothing is written).
   */
  async createWithPersonalOrganization(u: NewUserWithOrganization): Promise<{ user: User; organization: Organization } | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const user = await trx
        .insertInto('user')
        .values({
          id: u.id,
          name: u.name,
          email: u.email,
          role: u.role,
          emailVerified: u.emailVerified ?? false,
          ...(u.keyPair ? { keyPair: JSON.stringify(u.keyPair) } : {}),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!user) return undefined;
      const organization = await trx
        .insertInto('organization')
        .values({ name: 'Personal', createdBy: u.id, personal: true, ...quotaColumns(u.quota) })
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
