import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Sandbox } from '../db/schema.js';
import { sandboxWrites } from './sandbox-writes.js';

/**
 * SQL of the backup state machine (services/sandbox-backup.ts): None|Completed|Error -> Pending (request) ->
 * InProgress (claimed by one API process under a lease) -> Completed | Error. A claim whose lease ran out (its API
 * process died) is claimed again, so a backup survives an API restart.
 */
export class SandboxBackupRepository {
  constructor(private readonly db: Db) {}

  /** The request: only from None, Completed or Error (one backup at a time). */
  async request(id: string): Promise<boolean> {
    const res = await this.db
      .updateTable('sandbox')
      .set({ backupState: 'Pending', backupErrorReason: null, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('backupState', 'in', ['None', 'Completed', 'Error'])
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }

  /**
   * Claims backups that can run now: Pending (or InProgress with an expired lease) on a sandbox that is settled
   * started or stopped on a runner. A sandbox in the middle of a start, stop or archive waits for it to settle.
   */
  async claim(owner: string, leaseMs: number, limit: number): Promise<Sandbox[]> {
    const rows = await this.db
      .updateTable('sandbox')
      .set({ backupState: 'InProgress', backupClaimedBy: owner, backupClaimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('sandbox')
          .select('sandbox.id')
          .where((w) =>
            w.or([
              w('sandbox.backupState', '=', 'Pending'),
              w.and([w('sandbox.backupState', '=', 'InProgress'), w('sandbox.backupClaimExpiresAt', '<', sql<Date>`now()`)]),
            ]),
          )
          .where('sandbox.state', 'in', ['started', 'stopped'])
          .whereRef('sandbox.state', '=', 'sandbox.desiredState')
          .where('sandbox.runnerId', 'is not', null)
          .orderBy('sandbox.updatedAt')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returningAll()
      .execute();
    sandboxWrites.wrote(this.db, rows.map((r) => r.id));
    return rows;
  }

  async renew(id: string, owner: string, leaseMs: number): Promise<void> {
    await this.db
      .updateTable('sandbox')
      .set({ backupClaimExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where('id', '=', id)
      .where('backupClaimedBy', '=', owner)
      .execute();
  }

  /** Completed: `key` becomes the sandbox's backupSnapshot (what recovery restores) and joins the list of backups. */
  async complete(id: string, owner: string, key: string): Promise<boolean> {
    const entry = JSON.stringify([{ snapshotName: key, createdAt: new Date().toISOString() }]);
    const res = await this.db
      .updateTable('sandbox')
      .set({
        backupState: 'Completed',
        backupSnapshot: key,
        lastBackupAt: sql`now()`,
        backupErrorReason: null,
        existingBackupSnapshots: sql`existing_backup_snapshots || ${entry}::jsonb`,
        backupClaimedBy: null,
        backupClaimExpiresAt: null,
        updatedAt: sql`now()`,
      })
      .where('id', '=', id)
      .where('backupClaimedBy', '=', owner)
      .where('backupState', '=', 'InProgress')
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }

  async fail(id: string, owner: string, reason: string): Promise<boolean> {
    const res = await this.db
      .updateTable('sandbox')
      .set({ backupState: 'Error', backupErrorReason: reason.slice(0, 1000), backupClaimedBy: null, backupClaimExpiresAt: null, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('backupClaimedBy', '=', owner)
      .where('backupState', '=', 'InProgress')
      .executeTakeFirst();
    sandboxWrites.wroteIf(this.db, id, res.numUpdatedRows);
    return Number(res.numUpdatedRows) === 1;
  }
}
