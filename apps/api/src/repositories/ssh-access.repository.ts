import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { SshAccess } from '../db/schema.js';

export class SshAccessRepository {
  constructor(private readonly db: Db) {}

  /** A sandbox has at most one live SSH token: creating one revokes the previous ones. */
  async replace(sandboxId: string, token: string, minutes: number): Promise<SshAccess> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sshAccess').where('sandboxId', '=', sandboxId).execute();
      return trx
        .insertInto('sshAccess')
        .values({ sandboxId, token, expiresAt: sql`now() + ${minutes} * interval '1 minute'` })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }

  async revoke(sandboxId: string, token: string | undefined): Promise<void> {
    let q = this.db.deleteFrom('sshAccess').where('sandboxId', '=', sandboxId);
    if (token) q = q.where('token', '=', token);
    await q.execute();
  }

  findValid(token: string): Promise<SshAccess | undefined> {
    return this.db.selectFrom('sshAccess').selectAll().where('token', '=', token).where('expiresAt', '>', sql<Date>`now()`).executeTakeFirst();
  }
}
