import { sql } from 'kysely';
import type { Db } from '../db/database.js';

export interface KeyLookup {
  organizationId: string;
  userId: string;
  name: string;
  keyHash: string;
  permissions: string[];
  expiresAt: Date | null;
  role: 'admin' | 'user';
}

export class AuthRepository {
  constructor(private readonly db: Db) {}

  findKeyByHash(keyHash: string): Promise<KeyLookup | undefined> {
    return this.db
      .selectFrom('apiKey')
      .innerJoin('user', 'user.id', 'apiKey.userId')
      .select(['apiKey.organizationId', 'apiKey.userId', 'apiKey.name', 'apiKey.keyHash', 'apiKey.permissions', 'apiKey.expiresAt', 'user.role'])
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
}
