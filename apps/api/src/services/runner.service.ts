import type { FastifyBaseLogger } from 'fastify';
import type { Runner } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { RunnerAdapter } from '../reconciler/runner-client.js';
import type { SnapshotRunnerClient } from '../reconciler/snapshot-manager.js';
import type { RunnerRepository } from '../repositories/runner.repository.js';
import type { SandboxRepository } from '../repositories/sandbox.repository.js';
import type { CreateRunnerBody } from '../schemas.js';

export interface RunnerHealthChecker {
  checkDueRunners(): Promise<void>;
}

export class RunnerService implements RunnerHealthChecker {
  constructor(
    private readonly runners: RunnerRepository,
    private readonly sandboxes: SandboxRepository,
    private readonly adapter: RunnerAdapter,
    private readonly log: FastifyBaseLogger,
    private readonly healthIntervalMs: number,
    /** Asks a runner whether it holds an image (GET /runners/by-snapshot-ref). */
    private readonly snapshotCopies?: Pick<SnapshotRunnerClient, 'exists'>,
  ) {}

  /** Registers (or re-registers) a runner and probes it at once, so a fresh `shoal up` can schedule without waiting a tick. */
  async register(body: CreateRunnerBody): Promise<{ runner: Runner; created: boolean }> {
    const { runner, created } = await this.runners.upsert(body);
    await this.check(runner);
    return { runner: (await this.runners.findById(runner.id)) ?? runner, created };
  }

  list(): Promise<Runner[]> {
    return this.runners.list();
  }

  async setScheduling(id: string, unschedulable: boolean): Promise<Runner> {
    const r = isUuidLike(id) ? await this.runners.setUnschedulable(id, unschedulable) : undefined;
    if (!r) throw Errors.notFound(`Runner with ID ${id} not found`);
    return r;
  }

  async bySandbox(sandboxId: string): Promise<Runner> {
    const sb = await this.sandboxes.findById(sandboxId);
    if (!sb) throw Errors.sandboxNotFound(sandboxId);
    const r = sb.runnerId ? await this.runners.findById(sb.runnerId) : undefined;
    if (!r) throw Errors.notFound(`Runner for sandbox ${sandboxId} not found`);
    return r;
  }

  /**
   * The ready runners that hold the image `ref` (a snapshot's `ref`, as runners store it), asked of each runner at
   * once; a runner that does not answer in time is left out.
   */
  async bySnapshotRef(ref: string): Promise<Runner[]> {
    if (!this.snapshotCopies) return [];
    const image = ref;
    const ready = (await this.runners.list()).filter((r) => r.state === 'ready');
    const held = await Promise.all(ready.map((r) => this.snapshotCopies!.exists(r, image).catch(() => false)));
    return ready.filter((_, i) => held[i]);
  }

  /**
   * Claims the runners due for a check and probes them in the background: the caller is the reconcile tick, and a
   * slow or hung runner (up to the client's 10 s bound) must not hold up every other sandbox's work. The claim lease
   * keeps a runner from being probed twice at once.
   */
  async checkDueRunners(): Promise<void> {
    const due = await this.runners.claimDueChecks(this.healthIntervalMs, Math.max(5000, this.healthIntervalMs));
    for (const r of due) {
      this.check(r).catch((err: unknown) => this.log.warn({ runnerId: r.id, err: (err as Error).message }, 'recording a runner health check failed'));
    }
  }

  private async check(r: Runner): Promise<void> {
    try {
      const info = await this.adapter.info(r);
      const m = info.metrics;
      await this.runners.recordCheck(r.id, {
        state: 'ready',
        version: info.version ?? r.version,
        currentCpuUsagePercentage: m?.currentCpuUsagePercentage ?? 0,
        currentMemoryUsagePercentage: m?.currentMemoryUsagePercentage ?? 0,
        currentDiskUsagePercentage: m?.currentDiskUsagePercentage ?? 0,
        currentAllocatedCpu: m?.currentAllocatedCpu ?? 0,
        currentAllocatedMemoryGib: m?.currentAllocatedMemoryGiB ?? 0,
        currentAllocatedDiskGib: m?.currentAllocatedDiskGiB ?? 0,
        currentSnapshotCount: m?.currentSnapshotCount ?? 0,
        currentStartedSandboxes: m?.currentStartedSandboxes ?? 0,
        availabilityScore: availabilityScore(m?.currentCpuUsagePercentage ?? 0, m?.currentMemoryUsagePercentage ?? 0, m?.currentDiskUsagePercentage ?? 0),
      });
    } catch (err) {
      if (r.state !== 'unresponsive') this.log.warn({ runnerId: r.id, domain: r.domain, err: (err as Error).message }, 'runner health check failed');
      await this.runners.recordCheck(r.id, { state: 'unresponsive' });
    }
  }
}

/** A simple 0–100 headroom score shown in RunnerDto; scheduling itself orders by allocation (RunnerRepository.pickForSandbox). */
export function availabilityScore(cpu: number, mem: number, disk: number): number {
  if (cpu < 0 || mem < 0 || disk < 0) return 0;
  const headroom = 100 - (0.25 * cpu + 0.4 * mem + 0.35 * disk);
  return Math.max(0, Math.min(100, Math.round(headroom)));
}

function isUuidLike(s: string): boolean {
  return /^[0-9a-f-]{36}$/i.test(s);
}
