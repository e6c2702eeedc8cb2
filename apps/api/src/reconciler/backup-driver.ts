import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Sandbox } from '../db/schema.js';
import { SandboxBackupRepository } from '../repositories/sandbox-backup.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import type { RunnerAdapter } from './runner-client.js';
import { STATE_CHANNEL, type SandboxEvents } from './sandbox-events.js';

/** Object keys of a sandbox's layer in object storage; the runner accepts only these shapes for the sandbox it restores. */
export function sandboxArchiveKey(id: string): string {
  return `sandboxes/${id}/archive.tar.zst`;
}

export function sandboxBackupKey(id: string, at = new Date()): string {
  return `sandboxes/${id}/backups/${at.toISOString().replace(/[:.]/g, '-')}.tar.zst`;
}

/**
 * Runs requested backups (POST /sandbox/{id}/backup sets Pending): claims them in the database, asks the sandbox's
 * runner to pack its writable layer into object storage (synchronous; a running sandbox is frozen while its files are
 * read) and records Completed with the object key, or Error with the reason. Driven from the reconciler's tick, so
 * any API process picks up what another one left when it died (expired lease).
 */
export class BackupDriver {
  private readonly repo: SandboxBackupRepository;
  private readonly sandboxes: SandboxRepository;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    db: Db,
    private readonly runners: RunnerAdapter,
    private readonly events: SandboxEvents,
    private readonly log: FastifyBaseLogger,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly maxConcurrent = 4,
  ) {
    this.repo = new SandboxBackupRepository(db);
    this.sandboxes = new SandboxRepository(db);
  }

  /** Claims what can run now and starts it; returns without waiting for the runner calls. */
  async run(): Promise<void> {
    const capacity = this.maxConcurrent - this.inFlight.size;
    if (capacity <= 0) return;
    for (const sb of await this.repo.claim(this.owner, this.leaseMs, capacity)) {
      const p = this.backup(sb)
        .catch((err: unknown) => this.log.error({ err, sandboxId: sb.id }, 'backup failed unexpectedly'))
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  async stop(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async backup(sb: Sandbox): Promise<void> {
    const renew = setInterval(() => this.repo.renew(sb.id, this.owner, this.leaseMs).catch(() => {}), Math.max(250, Math.floor(this.leaseMs / 3)));
    renew.unref();
    const key = sandboxBackupKey(sb.id);
    try {
      const runner = sb.runnerId ? await this.sandboxes.runnerOf(sb.runnerId) : undefined;
      if (!runner) throw new Error('Sandbox has no runner');
      if (!this.runners.backupSandbox) throw new Error('Backups are not supported by this runner client');
      const t0 = Date.now();
      const r = await this.runners.backupSandbox(runner, sb.id, key);
      await this.repo.complete(sb.id, this.owner, key);
      this.log.info({ sandboxId: sb.id, key, sizeBytes: r.sizeBytes, packMs: r.packMs, ms: Date.now() - t0 }, 'sandbox backup completed');
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.log.warn({ sandboxId: sb.id, err: reason }, 'sandbox backup failed');
      await this.repo.fail(sb.id, this.owner, reason);
    } finally {
      clearInterval(renew);
      this.events.emitLocal(sb.id);
      await this.sandboxes.notify(STATE_CHANNEL, sb.id).catch(() => {});
    }
  }
}
