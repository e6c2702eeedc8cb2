import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Runner, Snapshot } from '../db/schema.js';
import { SnapshotLifecycleRepository } from '../repositories/snapshot-lifecycle.repository.js';
import { RunnerCallError, type RunnerTarget } from './runner-client.js';

/** The reference sweeps for unused snapshots every 10 minutes. */
export const AUTO_DEACTIVATE_SWEEP_MS = 10 * 60_000;
/** Runner copies a runner kept (a sandbox used the image) are asked for again this often. */
export const COPY_RETRY_MS = 60_000;
const BATCH = 50;

export interface SnapshotLifecycleOptions {
  /** 0: never auto-deactivate (SHOAL_SNAPSHOT_AUTO_DEACTIVATE_DAYS). */
  autoDeactivateDays: number;
  defaultSnapshot?: string;
  sweepIntervalMs?: number;
  copyRetryMs?: number;
}

export interface CopyRemovalResult {
  removed: string[];
  /** Snapshots with at least one runner that kept its copy (in use, or unreachable): tried again later. */
  kept: string[];
}

/**
 * What happens to snapshots after they are active: those unused for N days become inactive (as the reference's
 * cron does), and an inactive snapshot's image is taken off every runner once no sandbox there uses it. A runner
 * answers 409 while one of its sandboxes uses the image; that copy stays and is asked for again later. Activation
 * needs nothing back here: a sandbox created from the snapshot pulls the image from the internal registry again on
 * the runner it lands on.
 */
export class SnapshotLifecycle {
  private readonly repo: SnapshotLifecycleRepository;
  private sweepTimer: NodeJS.Timeout | null = null;
  private copyTimer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private stopped = true;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    db: Db,
    private readonly runners: { remove(r: RunnerTarget, ref: string): Promise<void> },
    private readonly log: FastifyBaseLogger,
    private readonly opts: SnapshotLifecycleOptions,
  ) {
    this.repo = new SnapshotLifecycleRepository(db);
  }

  start(): void {
    this.stopped = false;
    // The sweep also deactivates suspended organizations' snapshots, so it runs even without auto-deactivation.
    this.sweepTimer = setInterval(() => this.serial(() => this.sweep()), this.opts.sweepIntervalMs ?? AUTO_DEACTIVATE_SWEEP_MS);
    this.sweepTimer.unref();
    this.serial(() => this.sweep());
    this.copyTimer = setInterval(() => this.serial(() => this.removeRunnerCopies()), this.opts.copyRetryMs ?? COPY_RETRY_MS);
    this.copyTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.sweepTimer, this.copyTimer, this.soon]) if (t) clearTimeout(t);
    await this.busy;
  }

  /** Something may have been deactivated: look for runner copies to remove shortly (several wakes make one pass). */
  wake(): void {
    if (this.stopped || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      this.serial(() => this.removeRunnerCopies());
    }, 200);
    this.soon.unref();
  }

  private serial(task: () => Promise<unknown>): void {
    if (this.stopped) return;
    this.busy = this.busy.then(task).catch((err: unknown) => this.log.error({ err }, 'snapshot lifecycle pass failed'));
  }

  /**
   * Deactivates the snapshots unused for too long and those of organizations suspended past their grace period, then
   * removes their runner copies. Returns the deactivated ids.
   */
  async sweep(): Promise<string[]> {
    const unused = this.opts.autoDeactivateDays > 0 ? await this.repo.deactivateUnused(this.opts.autoDeactivateDays, this.opts.defaultSnapshot) : [];
    for (const s of unused) this.log.info({ snapshotId: s.id, name: s.name }, `snapshot unused for ${this.opts.autoDeactivateDays} days: deactivated`);
    const suspended = await this.repo.deactivateSuspended();
    for (const s of suspended) this.log.info({ snapshotId: s.id, name: s.name, organizationId: s.organizationId }, 'organization suspended past its grace period: snapshot deactivated');
    const gone = [...unused, ...suspended];
    if (gone.length > 0) await this.removeRunnerCopies();
    return gone.map((s) => s.id);
  }

  async removeRunnerCopies(): Promise<CopyRemovalResult> {
    const out: CopyRemovalResult = { removed: [], kept: [] };
    const snapshots = await this.repo.withRunnerCopies(BATCH);
    if (snapshots.length === 0) return out;
    const runners = await this.repo.readyRunners();
    for (const s of snapshots) {
      if (await this.removeCopiesOf(s, runners)) out.removed.push(s.id);
      else out.kept.push(s.id);
    }
    return out;
  }

  private async removeCopiesOf(s: Snapshot, runners: Runner[]): Promise<boolean> {
    const ref = s.internalName;
    // General snapshots are never inactive here, but their images are every organization's: never removed.
    if (ref && !s.general && !(await this.repo.imageWantedByAnother(ref, s.id))) {
      let kept = false;
      for (const r of runners) {
        // Activated meanwhile: its copies are wanted again.
        if (!(await this.repo.stillInactive(s.id))) return false;
        try {
          await this.runners.remove(r, ref);
        } catch (err) {
          if (err instanceof RunnerCallError && err.statusCode === 404) continue;
          kept = true;
          this.log.info({ snapshotId: s.id, runnerId: r.id, err: (err as Error).message }, 'inactive snapshot image kept on runner; retrying later');
        }
      }
      if (kept) return false;
    }
    return this.repo.markCopiesRemoved(s.id);
  }
}
