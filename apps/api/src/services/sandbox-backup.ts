import type { Db } from '../db/database.js';
import { Errors } from '../errors.js';
import { SandboxBackupRepository } from '../repositories/sandbox-backup.repository.js';
import type { SandboxWithRunner } from './sandbox-dto.js';

/**
 * POST /sandbox/{id}/backup: the request half of the backup state machine (the runs are reconciler/backup-driver.ts).
 * A backup packs the sandbox's writable layer into object storage on its runner, so the sandbox must be settled
 * started or stopped on one; an archived sandbox's archive is its copy already. As in the reference, ephemeral
 * sandboxes are never backed up and one backup runs at a time; unlike it, a failed backup (Error) may be asked again.
 */
export async function requestBackup(db: Db, sb: SandboxWithRunner): Promise<void> {
  if (sb.autoDeleteInterval === 0) throw Errors.ephemeralBackup();
  if (sb.backupState === 'Pending' || sb.backupState === 'InProgress') throw Errors.backupInProgress();
  if (sb.desiredState === 'destroyed' || !sb.runnerId || (sb.state !== 'started' && sb.state !== 'stopped')) throw Errors.notValidState();
  if (!(await new SandboxBackupRepository(db).request(sb.id))) throw Errors.backupInProgress();
}
