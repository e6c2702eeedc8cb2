import type { Db } from '../db/database.js';
import type { ApiKey } from '../db/schema.js';

export class ApiKeyRepository {
  constructor(private readonly db: Db) {}

  /** Returns undefined when (organization, user, name) is taken. */
  async insert(row: Omit<ApiKey, 'createdAt' | 'lastUsedAt'>): Promise<ApiKey | undefined> {
    return this.db
      .insertInto('apiKey')
      .values(row)
      .onConflict((oc) => oc.columns(['organizationId', 'userId', 'name']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  list(organizationId: string, userId: string | undefined): Promise<ApiKey[]> {
    let q = this.db.selectFrom('apiKey').selectAll().where('organizationId', '=', organizationId);
    if (userId) q = q.where('userId', '=', userId);
    return q.orderBy('createdAt', 'desc').execute();
  }

  find(organizationId: string, userId: string, name: string): Promise<ApiKey | undefined> {
    return this.db
      .selectFrom('apiKey')
      .selectAll()
      .where('organizationId', '=', organizationId)
      .where('userId', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  findByHash(keyHash: string): Promise<ApiKey | undefined> {
    return this.db.selectFrom('apiKey').selectAll().where('keyHash', '=', keyHash).executeTakeFirst();
  }

  async delete(organizationId: string, userId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('apiKey')
      .where('organizationId', '=', organizationId)
      .where('userId', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
