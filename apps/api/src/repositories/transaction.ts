import type { Db } from '../db/database.js';
import { RunnerRepository } from './runner.repository.js';
import { SandboxRepository } from './sandbox.repository.js';
import { VolumeRepository } from './volume.repository.js';
import { WarmPoolRepository } from './warm-pool.repository.js';

/** The repositories a service may use inside one transaction. */
export interface TransactionRepositories {
  sandboxes: SandboxRepository;
  runners: RunnerRepository;
  volumes: VolumeRepository;
  warmPools: WarmPoolRepository;
}

/**
 * Runs `fn` in one database transaction with repositories bound to it, so a service can combine checks and writes
 * atomically (e.g. quota check and insert under the organization's row lock) without issuing SQL itself.
 */
export function inTransaction<T>(db: Db, fn: (repos: TransactionRepositories) => Promise<T>): Promise<T> {
  return db.transaction().execute((trx) => fn({ sandboxes: new SandboxRepository(trx), runners: new RunnerRepository(trx), volumes: new VolumeRepository(trx), warmPools: new WarmPoolRepository(trx) }));
}
