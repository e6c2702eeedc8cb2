import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Volume } from '../db/schema.js';
import { VolumeRepository } from '../repositories/volume.repository.js';
import { ClaimLoop } from './claim-loop.js';
import type { VolumeStorage } from './volume-storage.js';

export interface VolumeManagerOptions {
  intervalMs: number;
  leaseMs: number;
  /** Wait before another attempt at removing a volume's data after a failure. */
  retryMs?: number;
}

/**
 * Drives volumes from their row: pending_create -> creating -> ready (the driver prepares the data; a failure ends in
 * `error` with the reason) and pending_delete -> deleting -> deleted (the driver removes the data; a failure is
 * retried, the reason kept in errorReason meanwhile). Rows are claimed with a lease, so after a restart, or with
 * several API processes, every volume left half-way is picked up again from the state it is in.
 */
export class VolumeManager {
  private readonly repo: VolumeRepository;
  private readonly loop: ClaimLoop<Volume>;
  private readonly retryMs: number;

  constructor(
    db: Db,
    private readonly storage: VolumeStorage,
    private readonly log: FastifyBaseLogger,
    private readonly opts: VolumeManagerOptions,
  ) {
    this.repo = new VolumeRepository(db);
    this.retryMs = opts.retryMs ?? 5000;
    this.loop = new ClaimLoop(
      { claim: (o, l, n) => this.repo.claim(o, l, n), renew: (id, o, l) => this.repo.renew(id, o, l), postpone: (id, o, ms) => this.repo.postpone(id, o, ms), release: (id, o) => this.repo.release(id, o) },
      (v) => this.work(v),
      log,
      { name: 'volume', intervalMs: opts.intervalMs, leaseMs: opts.leaseMs, maxConcurrent: 4 },
    );
  }

  get driver(): VolumeStorage['driver'] {
    return this.storage.driver;
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  wake(): void {
    this.loop.wake();
  }

  /**
   * Provisions one new volume within the create request, so POST /volumes answers `ready` when the driver is quick
   * (the SDK mounts a volume right after creating it and never waits). Another process holding the row is left to it.
   */
  async provisionNow(id: string): Promise<void> {
    const owner = this.loop.owner;
    const v = await this.repo.claimOne(id, owner, this.opts.leaseMs);
    if (!v) return;
    let postponeMs = 0;
    try {
      postponeMs = await this.work(v);
    } finally {
      if (postponeMs > 0) await this.repo.postpone(id, owner, postponeMs).catch(() => {});
      else await this.repo.release(id, owner).catch(() => {});
    }
  }

  /** One step of work on a claimed volume; returns how long to wait before the row is retried (0: done). */
  private async work(v: Volume): Promise<number> {
    switch (v.state) {
      case 'pending_create':
      case 'creating':
        return this.create(v);
      case 'pending_delete':
      case 'deleting':
        return this.delete(v);
      default:
        return 0;
    }
  }

  private async create(v: Volume): Promise<number> {
    if (v.state === 'pending_create' && !(await this.repo.transition(v.id, ['pending_create'], 'creating'))) return 0;
    try {
      await this.storage.provision(v);
    } catch (err) {
      const reason = `Failed to prepare the volume's storage (${this.storage.driver}): ${(err as Error).message.split('\n')[0]}`;
      this.log.error({ err, volumeId: v.id }, 'volume provisioning failed');
      await this.repo.transition(v.id, ['creating'], 'error', reason);
      return 0;
    }
    await this.repo.transition(v.id, ['creating'], 'ready');
    return 0;
  }

  private async delete(v: Volume): Promise<number> {
    if (v.state === 'pending_delete' && !(await this.repo.transition(v.id, ['pending_delete'], 'deleting'))) return 0;
    try {
      await this.storage.remove(v);
    } catch (err) {
      const reason = `Failed to remove the volume's data (${this.storage.driver}), retrying: ${(err as Error).message.split('\n')[0]}`;
      this.log.warn({ err, volumeId: v.id }, 'volume data removal failed');
      await this.repo.transition(v.id, ['deleting'], 'deleting', reason);
      return this.retryMs;
    }
    await this.repo.transition(v.id, ['deleting'], 'deleted');
    return 0;
  }
}
