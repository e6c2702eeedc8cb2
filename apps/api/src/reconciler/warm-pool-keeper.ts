import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { WarmPool } from '../db/schema.js';
import { randomToken } from '../auth/api-key-format.js';
import { SnapshotRepository } from '../repositories/snapshot.repository.js';
import { inTransaction } from '../repositories/transaction.js';
import { WARM_POOL_ORGANIZATION_ID, WarmPoolRepository } from '../repositories/warm-pool.repository.js';

/**
 * The default snapshot's pool when SHOAL_WARM_POOL_SIZE is unset: enough for the first creates of a session (an agent's
 * sandbox, then a second one) to be claims, while two idle sandboxes cost little memory and no CPU.
 */
export const DEFAULT_WARM_POOL_SIZE = 2;

export interface WarmPoolKeeperOptions {
  intervalMs: number;
  /** Pooled creates in flight per pool: filling stays behind user creates, which the runner's start queue serves too. */
  maxFilling: number;
  /**
   * The default snapshot's pool. `enforce` (SHOAL_WARM_POOL_SIZE set): its size is set at every start. Otherwise it is
   * made with `size` only when no pool of that shape exists, so a size an admin set through the API survives restarts.
   */
  defaultPool?: { snapshot: string; size: number; enforce: boolean };
}

/**
 * Keeps each warm pool at its size. The sandboxes it adds are ordinary rows, in the placeholder organization and
 * marked with their pool, that the reconciler creates like any other; claims (SandboxService.create) take them out.
 * Unusable pooled sandboxes (failed, on a runner that takes no new work, of a pool that is gone) are destroyed, never
 * handed out. Any number of API replicas may run one: a top-up holds the pool's advisory lock for its transaction.
 */
export class WarmPoolKeeper {
  private readonly pools: WarmPoolRepository;
  private readonly snapshots: SnapshotRepository;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private defaultEnsured = false;

  constructor(
    private readonly db: Db,
    private readonly log: FastifyBaseLogger,
    private readonly opts: WarmPoolKeeperOptions,
  ) {
    this.pools = new WarmPoolRepository(db);
    this.snapshots = new SnapshotRepository(db);
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** A pool was resized or removed (admin API): act now rather than at the next tick. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick()
        .catch((err: unknown) => this.log.warn({ err }, 'warm pool top-up failed'))
        .finally(() => {
          this.running = null;
          const soon = this.again;
          this.again = false;
          this.schedule(soon ? 0 : this.opts.intervalMs);
        });
    }, ms);
    this.timer.unref();
  }

  /** One pass: configuration, retirements, then every pool to its size. Public for tests. */
  async tick(): Promise<void> {
    await this.ensureDefaultPool();
    for (const r of await this.pools.retireUnusable()) {
      if (r.poolId && r.errorReason) await this.pools.setError(r.poolId, r.errorReason);
    }
    const counts = await this.pools.liveCounts();
    for (const pool of await this.pools.list()) {
      const c = counts.get(pool.id) ?? { ready: 0, filling: 0 };
      if (c.ready + c.filling > pool.size) await this.pools.trim(pool.id, pool.size);
      else if (c.ready + c.filling < pool.size && c.filling < this.opts.maxFilling) await this.topUp(pool);
    }
  }

  private async ensureDefaultPool(): Promise<void> {
    const d = this.opts.defaultPool;
    if (!d || this.defaultEnsured) return;
    const snapshot = await this.snapshots.findGeneralByName(d.snapshot);
    // The default snapshot may still be building on a first start; the next tick looks again.
    if (!snapshot || snapshot.state !== 'active') return;
    const shape = { snapshot: snapshot.name, cpu: snapshot.cpu, gpu: snapshot.gpu, mem: snapshot.mem, disk: snapshot.disk, osUser: 'daytona' };
    if (d.enforce) await this.pools.upsert(shape, d.size);
    else await this.pools.insertIfAbsent(shape, d.size);
    this.defaultEnsured = true;
  }

  private async topUp(pool: WarmPool): Promise<void> {
    const snapshot = await this.snapshots.findGeneralByName(pool.snapshot);
    if (!snapshot || snapshot.state !== 'active') {
      await this.pools.setError(pool.id, `Snapshot ${pool.snapshot} is not an active general snapshot`);
      return;
    }
    await inTransaction(this.db, async ({ sandboxes, runners, warmPools }) => {
      if (!(await warmPools.tryLockPool(pool.id))) return;
      // Counted again under the lock: another replica may have topped up since the pass began.
      const c = (await warmPools.liveCounts()).get(pool.id) ?? { ready: 0, filling: 0 };
      const add = Math.min(pool.size - c.ready - c.filling, this.opts.maxFilling - c.filling);
      for (let i = 0; i < add; i++) {
        const runner = await runners.pickForSandbox(undefined);
        if (!runner) {
          await warmPools.setError(pool.id, 'No available runners');
          return;
        }
        await sandboxes.insert({
          organizationId: WARM_POOL_ORGANIZATION_ID,
          region: runner.region,
          runnerId: runner.id,
          class: 'small',
          state: 'unknown',
          desiredState: 'started',
          snapshot: snapshot.name,
          imageRef: snapshot.internalName ?? snapshot.imageName,
          entrypoint: snapshot.entrypoint,
          osUser: pool.osUser,
          env: JSON.stringify({}),
          labels: JSON.stringify({}),
          public: false,
          networkBlockAll: false,
          networkAllowList: null,
          cpu: pool.cpu,
          gpu: pool.gpu,
          mem: pool.mem,
          disk: pool.disk,
          volumes: JSON.stringify([]),
          // Never stopped, archived or deleted while waiting: the claim sets the caller's intervals.
          autoStopInterval: 0,
          autoArchiveInterval: 43200,
          autoDeleteInterval: -1,
          authToken: randomToken(32),
          warmPoolId: pool.id,
        });
      }
      if (add > 0 && pool.errorReason) await warmPools.setError(pool.id, null);
    });
  }
}
