import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Snapshot } from '../db/schema.js';
import { BuildInfoRepository } from '../repositories/build-info.repository.js';

/**
 * What drives one claimed build row (services/build.service.ts); returns how long to wait before a retry (0: done).
 * When `signal` aborts (this process stops), it returns at once and leaves the row as it is for another driver.
 */
export interface BuildPipeline {
  driveBuild(s: Snapshot, signal: AbortSignal): Promise<number>;
}

export interface BuildDriverOptions {
  intervalMs: number;
  leaseMs: number;
  /** Builds this process drives at once at most (each holds one long runner call; the runner queues beyond its cap). */
  maxConcurrent?: number;
}

/**
 * Drives Dockerfile builds (snapshots in build_pending or building) from claimed rows, like the snapshot manager does
 * pulls: a row is claimed in SQL (SKIP LOCKED + a lease renewed while the build runs), so when the API process driving
 * a build dies, its lease lapses and any replica takes the build over. The runner keys builds by their image
 * reference, so the new driver's BuildSnapshot joins the build still running there instead of starting a second one.
 * The timer doubles as the timeout sweep: a taken-over build past its deadline is failed and cancelled at once.
 */
export class BuildDriver {
  readonly owner = `build-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly repo: BuildInfoRepository;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private rerun = false;
  private stopped = true;
  private active = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private abort = new AbortController();

  constructor(
    db: Db,
    private readonly pipeline: BuildPipeline,
    private readonly log: FastifyBaseLogger,
    private readonly opts: BuildDriverOptions,
  ) {
    this.repo = new BuildInfoRepository(db);
  }

  start(): void {
    this.stopped = false;
    this.abort = new AbortController();
    const loop = () => {
      this.timer = setTimeout(() => {
        this.wake();
        if (!this.stopped) loop();
      }, this.opts.intervalMs);
      this.timer.unref();
    };
    loop();
    this.wake();
  }

  /**
   * Stops claiming and lets go of the builds this process drives without waiting for them: the runner keeps building,
   * and the released rows are re-attached by another replica (or this one after a restart).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    const p = this.claimAndDrive()
      .catch((err: unknown) => this.log.error({ err }, 'build driver tick failed'))
      .finally(() => {
        this.running = false;
        this.inFlight.delete(p);
        if (this.rerun && !this.stopped) {
          this.rerun = false;
          this.wake();
        }
      });
    this.inFlight.add(p);
  }

  private async claimAndDrive(): Promise<void> {
    for (;;) {
      const capacity = (this.opts.maxConcurrent ?? 16) - this.active;
      if (this.stopped || capacity <= 0) return;
      const batch = await this.repo.claimBuilds(this.owner, this.opts.leaseMs, capacity);
      if (batch.length === 0) return;
      for (const s of batch) {
        this.active++;
        const p = this.drive(s)
          .catch((err: unknown) => this.log.error({ err, snapshotId: s.id }, 'driving build failed'))
          .finally(() => {
            this.active--;
            this.inFlight.delete(p);
            this.wake();
          });
        this.inFlight.add(p);
      }
    }
  }

  private async drive(s: Snapshot): Promise<void> {
    const renew = setInterval(() => {
      this.repo.renewBuildClaim(s.id, this.owner, this.opts.leaseMs).catch(() => {});
    }, Math.max(250, Math.floor(this.opts.leaseMs / 3)));
    renew.unref();
    let postponeMs = 0;
    try {
      postponeMs = await this.pipeline.driveBuild(s, this.abort.signal);
    } finally {
      clearInterval(renew);
      if (postponeMs > 0) await this.repo.postponeBuildClaim(s.id, this.owner, postponeMs).catch(() => {});
      else await this.repo.releaseBuildClaim(s.id, this.owner).catch(() => {});
    }
  }
}
