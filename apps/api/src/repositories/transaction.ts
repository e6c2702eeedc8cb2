import type { Db } from '../db/database.js';
import { RunnerRepository } from './runner.repository.js';
import { SandboxRepository } from './sandbox.repository.js';
import { sandboxWrites } from './sandbox-writes.js';
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
export async function inTransaction<T>(db: Db, fn: (repos: TransactionRepositories) => Promise<T>): Promise<T> {
  let committed: Db | undefined;
  const result = await db.transaction().execute(async (trx) => {
    const out = await fn({ sandboxes: new SandboxRepository(trx), runners: new RunnerRepository(trx), volumes: new VolumeRepository(trx), warmPools: new WarmPoolRepository(trx) });
    committed = trx;
    return out;
  });
  // Reached only once COMMIT succeeded: the sandbox rows it changed are now what readers see.
  if (committed) sandboxWrites.committed(committed);
  return result;
}
