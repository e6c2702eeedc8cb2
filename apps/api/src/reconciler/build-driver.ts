import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Snapshot } from '../db/schema.js';
import { BuildInfoRepository } from '../repositories/build-info.repository.js';
import { ClaimLoop, type ClaimedRows } from './claim-loop.js';

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
  private readonly loop: ClaimLoop<Snapshot>;
  private abort = new AbortController();

  constructor(db: Db, pipeline: BuildPipeline, log: FastifyBaseLogger, opts: BuildDriverOptions) {
    const repo = new BuildInfoRepository(db);
    const rows: ClaimedRows<Snapshot> = {
      claim: (owner, leaseMs, limit) => repo.claimBuilds(owner, leaseMs, limit),
      renew: (id, owner, leaseMs) => repo.renewBuildClaim(id, owner, leaseMs),
      postpone: (id, owner, ms) => repo.postponeBuildClaim(id, owner, ms),
      release: (id, owner) => repo.releaseBuildClaim(id, owner),
    };
    this.loop = new ClaimLoop(rows, (s) => pipeline.driveBuild(s, this.abort.signal), log, {
      name: 'build',
      intervalMs: opts.intervalMs,
      leaseMs: opts.leaseMs,
      maxConcurrent: opts.maxConcurrent ?? 16,
    });
  }

  get owner(): string {
    return this.loop.owner;
  }

  start(): void {
    this.abort = new AbortController();
    this.loop.start();
  }

  /**
   * Stops claiming and lets go of the builds this process drives without waiting for them: the runner keeps building,
   * and the released rows are re-attached by another replica (or this one after a restart).
   */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop.stop();
  }

  wake(): void {
    this.loop.wake();
  }
}
