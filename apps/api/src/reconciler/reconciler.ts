import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Organization, Runner, Sandbox } from '../db/schema.js';
import { OrganizationRepository } from '../repositories/organization.repository.js';
import { RunnerRepository } from '../repositories/runner.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import { nextAction, settledState, type SandboxAction } from '../services/sandbox-state.js';
import type { RunnerHealthChecker } from '../services/runner.service.js';
import type { CreateRunnerSandbox } from '@shoal/contracts';
import type { RunnerAdapter } from './runner-client.js';
import { RunnerCallError } from './runner-client.js';
import { BackupDriver, sandboxArchiveKey } from './backup-driver.js';
import { STATE_CHANNEL, type SandboxEvents } from './sandbox-events.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { context, inSpan, SpanKind, type Context } from '@shoal/telemetry';
import { currentRequestId, runWithRequestId } from '../tracing/request-context.js';

/**
 * A failing destroy (runner down or restarting, teardown refused) is retried this many times in all, then the sandbox
 * is parked in `error` with the last reason; a new DELETE re-arms it. The reference gives up at once (any exception
 * puts the sandbox in `error`); a few retries ride out a runner restart.
 */
export const DESTROY_MAX_ATTEMPTS = 5;
/** Wait before destroy retry n (n = 1, 2, ...): base * 2^(n-1), at most DESTROY_BACKOFF_MAX_MS (1 s, 2 s, 4 s, 8 s). */
export const DESTROY_BACKOFF_BASE_MS = 1000;
export const DESTROY_BACKOFF_MAX_MS = 60_000;

export function destroyBackoffMs(failures: number): number {
  return Math.min(DESTROY_BACKOFF_MAX_MS, DESTROY_BACKOFF_BASE_MS * 2 ** (failures - 1));
}

/**
 * A start whose runner is only unresponsive or still initializing (a restart, a missed health check on a loaded host)
 * waits for it instead of failing at once: retried with the destroy back-off this many times (about a minute in all),
 * then the sandbox shows `error` with the reason. A runner that is disabled or decommissioned fails the start at once.
 */
export const START_WAIT_FOR_RUNNER_ATTEMPTS = 10;

/** The sandbox's runner may come back: the start is retried later, not failed (see START_WAIT_FOR_RUNNER_ATTEMPTS). */
export class RunnerNotReadyYet extends Error {}

/** What the request that made a sandbox's row has read already, handed to its first action (driveInserted). */
export interface KnownForAction {
  runner: Runner;
  org: Organization;
}

export interface ReconcilerOptions {
  intervalMs: number;
  leaseMs: number;
  runnerHealthIntervalMs: number;
  autoTransitionIntervalMs: number;
  /** Sandboxes this process drives at once at most (each is one runner call at a time). */
  maxConcurrent?: number;
  /** Destroy attempts before a sandbox is given up as `error` (default DESTROY_MAX_ATTEMPTS). */
  maxDestroyAttempts?: number;
  /** Retries of a start whose runner is unresponsive or initializing (default START_WAIT_FOR_RUNNER_ATTEMPTS). */
  maxStartWaitAttempts?: number;
  /** Reconcile lag and create/start durations (README "Metrics"). */
  metrics?: ApiMetrics;
}

/**
 * Moves each sandbox's `state` toward its `desiredState`, one idempotent runner call at a time. Runs in every API
 * process; claims in PostgreSQL (row locks + lease, see SandboxRepository.claim) make sure each sandbox is driven by
 * at most one process at a time, and a crashed process's claims expire and are retried by the others.
 * New work wakes every process at once: a trigger NOTIFYs the work channel whenever a desired state is set (migration
 * 3), SandboxEvents LISTENs and calls wake(); the interval tick only catches retries that fall due and lost claims.
 */
export class Reconciler {
  readonly owner = `api-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly repo: SandboxRepository;
  private readonly orgs: OrganizationRepository;
  private readonly runnerRepo: RunnerRepository;
  /** Requested backups, driven from the same tick (backup-driver.ts). */
  private readonly backups: BackupDriver;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private rerun = false;
  private stopped = false;
  private lastAutoRun = 0;
  private lastHealthRun = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private active = 0;
  /**
   * Trace context of the request that asked for a sandbox's change (driveSoon), so its runner calls join that trace
   * even when the interval tick, not the request's fast path, claims the sandbox. In this process only: a change
   * claimed by another replica starts a trace of its own there.
   */
  private readonly requestContexts = new Map<string, { ctx: Context; requestId: string | undefined }>();

  constructor(
    db: Db,
    private readonly runners: RunnerAdapter,
    private readonly health: RunnerHealthChecker,
    private readonly events: SandboxEvents,
    private readonly log: FastifyBaseLogger,
    private readonly opts: ReconcilerOptions,
  ) {
    this.repo = new SandboxRepository(db);
    this.orgs = new OrganizationRepository(db);
    this.runnerRepo = new RunnerRepository(db);
    this.backups = new BackupDriver(db, runners, events, log, this.owner, opts.leaseMs);
  }

  start(): void {
    this.stopped = false;
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

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.backups.stop();
  }

  /** Runs a tick soon; coalesces bursts of wake-ups (NOTIFY storms) into one extra tick. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    const p = this.tick()
      .catch((err: unknown) => this.log.error({ err }, 'reconciler tick failed'))
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

  private async tick(): Promise<void> {
    // Work first: a tick woken by a NOTIFY reaches its runner call without waiting behind the housekeeping below.
    await this.claimAndDrive();
    if (!this.stopped) await this.backups.run().catch((err: unknown) => this.log.warn({ err }, 'backup pass failed'));
    const now = Date.now();
    if (now - this.lastHealthRun >= this.opts.runnerHealthIntervalMs) {
      this.lastHealthRun = now;
      await this.health.checkDueRunners().catch((err: unknown) => this.log.warn({ err }, 'runner health checks failed'));
    }
    if (now - this.lastAutoRun >= this.opts.autoTransitionIntervalMs) {
      this.lastAutoRun = now;
      // Desired states changed here NOTIFY (migration 3), which wakes every replica, this one included, for the work.
      const changed = await this.repo.applyAutoTransitions();
      if (changed > 0) this.log.info({ changed }, 'auto-stop/archive/delete changed desired states');
    }
  }

  /**
   * Claimed sandboxes run as independent tasks so one slow runner call (an image pull) never holds up the tick:
   * auto-transitions, health checks and other sandboxes keep moving. Each finished task wakes the loop again.
   */
  private async claimAndDrive(): Promise<void> {
    for (;;) {
      const capacity = (this.opts.maxConcurrent ?? 32) - this.active;
      if (this.stopped || capacity <= 0) return;
      const batch = await this.repo.claim(this.owner, this.opts.leaseMs, Math.min(capacity, 16));
      if (batch.length === 0) return;
      for (const sb of batch) this.track(this.driveClaimed(sb), sb.id, true);
    }
  }

  private track(work: Promise<void>, sandboxId: string, counted: boolean): void {
    if (counted) this.active++;
    const p = work
      .catch((err: unknown) => this.log.error({ err, sandboxId }, 'driving sandbox failed'))
      .finally(() => {
        this.inFlight.delete(p);
        if (counted) {
          this.active--;
          this.wake();
        }
      });
    this.inFlight.add(p);
  }

  /**
   * Fast path for request handlers: claim this sandbox now and drive it until settled. Returns without doing
   * anything if another process holds the claim (it will drive it; the caller waits on state events).
   */
  async drive(id: string): Promise<void> {
    if (this.stopped) return;
    const [sb] = await this.repo.claim(this.owner, this.opts.leaseMs, 1, id);
    if (sb) await this.driveClaimed(sb);
  }

  /** Fire-and-forget variant of drive() that the shutdown path still waits for. */
  driveSoon(id: string): void {
    this.requestContexts.set(id, { ctx: context.active(), requestId: currentRequestId() });
    // Entries of sandboxes another replica claimed are never taken: keep only the most recent ones.
    if (this.requestContexts.size > 1000) this.requestContexts.delete(this.requestContexts.keys().next().value!);
    this.track(this.drive(id), id, false);
  }

  /** The claim a request writes into a row it inserts and then hands to driveInserted: this process's, for one lease. */
  claimForInsert(): { owner: string; leaseMs: number } | undefined {
    return this.stopped ? undefined : { owner: this.owner, leaseMs: this.opts.leaseMs };
  }

  /**
   * A create's row, inserted already claimed by this process (claimForInsert) with the runner and organization the
   * request has just read: its runner call goes out without a claim round trip or reading them again. Nothing else
   * can have claimed it, and a process stopped since gives it back for another replica.
   */
  driveInserted(sb: Sandbox, known: KnownForAction): void {
    if (this.stopped) {
      this.track(this.repo.release(sb.id, this.owner).then(() => undefined), sb.id, false);
      return;
    }
    this.requestContexts.set(sb.id, { ctx: context.active(), requestId: currentRequestId() });
    this.track(this.driveClaimed(sb, known), sb.id, false);
  }

  private async driveClaimed(first: Sandbox, known?: KnownForAction): Promise<void> {
    let sb: Sandbox | undefined = first;
    // After each action the desired state may have moved again (e.g. DELETE during create): keep going while we can claim.
    for (let i = 0; sb && i < 8; i++) {
      await this.act(sb, i === 0 ? known : undefined);
      if (this.stopped) return;
      [sb] = await this.repo.claim(this.owner, this.opts.leaseMs, 1, sb.id);
    }
  }

  private async act(sb: Sandbox, known?: KnownForAction): Promise<void> {
    const action = nextAction(sb.state, sb.desiredState);
    if (!action) {
      this.requestContexts.delete(sb.id);
      await this.repo.release(sb.id, this.owner);
      return;
    }
    const due = Math.max(sb.updatedAt.getTime(), sb.nextAttemptAt?.getTime() ?? 0);
    this.opts.metrics?.reconcileLag.observe({ action }, Math.max(0, Date.now() - due) / 1000);
    const origin = this.requestContexts.get(sb.id) ?? { ctx: context.active(), requestId: currentRequestId() };
    this.requestContexts.delete(sb.id);
    await context.with(origin.ctx, () =>
      runWithRequestId(origin.requestId, () => inSpan(`reconcile ${action}`, SpanKind.INTERNAL, { 'shoal.sandbox_id': sb.id, 'shoal.action': action }, () => this.actOn(sb, action, known))),
    );
  }

  private async actOn(sb: Sandbox, action: Exclude<SandboxAction, null>, known?: KnownForAction): Promise<void> {
    const renew = setInterval(() => {
      this.repo.renewClaim(sb.id, this.owner, this.opts.leaseMs).catch(() => {});
    }, Math.max(250, Math.floor(this.opts.leaseMs / 3)));
    renew.unref();
    let failed: { err: unknown } | null = null;
    let extra: Partial<Record<keyof Sandbox, unknown>> | void = undefined;
    try {
      extra = await this.perform(action, sb, known);
    } catch (err) {
      failed = { err };
    } finally {
      clearInterval(renew);
    }
    const held = failed ? await this.failure(action, sb, failed.err) : await this.repo.settle(sb.id, this.owner, settledState(action), extra ?? {});
    if (held && (action === 'create' || action === 'start')) {
      // From the request: a create's row is inserted by it, a start's desired state set by it (updatedAt).
      const since = action === 'create' ? sb.createdAt.getTime() : sb.updatedAt.getTime();
      this.opts.metrics?.sandboxTransition.observe({ action, outcome: failed ? 'error' : 'started' }, Math.max(0, Date.now() - since) / 1000);
    }
    if (!held) this.log.warn({ sandboxId: sb.id, action }, 'lost the claim while acting; another process will retry');
    this.events.emitLocal(sb.id);
    await this.repo.notify(STATE_CHANNEL, sb.id).catch(() => {});
  }

  private failure(action: Exclude<SandboxAction, null>, sb: Sandbox, err: unknown): Promise<boolean> {
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn({ sandboxId: sb.id, action, err: message }, 'runner action failed');
    if (action === 'start' && err instanceof RunnerNotReadyYet) {
      const waits = sb.attempts + 1;
      if (waits <= (this.opts.maxStartWaitAttempts ?? START_WAIT_FOR_RUNNER_ATTEMPTS)) {
        return this.repo.scheduleRetry(sb.id, this.owner, waits, Math.min(8000, destroyBackoffMs(waits)));
      }
      return this.repo.fail(sb.id, this.owner, message);
    }
    if (action !== 'destroy') return this.repo.fail(sb.id, this.owner, message);
    // Destroy is retried with back-off (a runner may be restarting); giving up parks the row as error with the reason.
    const failures = sb.attempts + 1;
    const max = this.opts.maxDestroyAttempts ?? DESTROY_MAX_ATTEMPTS;
    if (failures < max) return this.repo.scheduleRetry(sb.id, this.owner, failures, destroyBackoffMs(failures));
    return this.repo.fail(sb.id, this.owner, `Destroy failed after ${failures} attempts: ${message}`, failures);
  }

  /** Runs the action's runner calls; may return columns to record with the settled state. */
  private async perform(action: Exclude<SandboxAction, null>, sb: Sandbox, known?: KnownForAction): Promise<Partial<Record<keyof Sandbox, unknown>> | void> {
    // The organization's setting applies when the sandbox is created on its runner, as in the reference; both reads
    // go out together since they sit between the claim and the runner call.
    const [runner, org] =
      known && known.runner.id === sb.runnerId
        ? [known.runner, known.org]
        : await Promise.all([
            sb.runnerId ? this.repo.runnerOf(sb.runnerId) : undefined,
            action === 'create' || action === 'start' ? this.orgs.findById(sb.organizationId) : undefined,
          ]);
    if (action === 'destroy') {
      if (!runner) return; // never placed, archived, or its runner was deregistered: nothing to tear down
      await this.runners.destroySandbox(runner, sb.id).catch(ignoreNotFound);
      await this.runners.removeSandbox(runner, sb.id).catch(ignoreNotFound);
      return;
    }
    if (action === 'start') return this.startOrRestore(sb, runner, org?.sandboxLimitedNetworkEgress ?? false);
    if (!runner) throw new Error('Sandbox has no runner');
    switch (action) {
      case 'create':
        await this.runners.createSandbox(runner, createBody(sb, org?.sandboxLimitedNetworkEgress ?? false));
        return;
      case 'stop':
        await this.runners.stopSandbox(runner, sb.id);
        return;
      case 'archive': {
        // The runner packs the writable layer into object storage and removes its copy; the sandbox then has no runner.
        if (!this.runners.archiveSandbox) throw new Error('Archiving is not supported by this runner client');
        if (runner.state !== 'ready') throw new Error(`Runner is not ready (${runner.state})`);
        const r = await this.runners.archiveSandbox(runner, sb.id);
        this.log.info({ sandboxId: sb.id, key: r.key, sizeBytes: r.sizeBytes, packMs: r.packMs, uploadMs: r.uploadMs }, 'sandbox archived');
        return { runnerId: null, prevRunnerId: runner.id };
      }
    }
  }

  /**
   * Start of a stopped or archived sandbox. Archived: its layer comes back from object storage on the runner the
   * scheduler picks (`restoring`). Stopped: started where its files are; when that runner is gone (deregistered, not
   * ready) or no longer has the sandbox (404), it is recovered from its last completed backup on a picked runner.
   */
  private async startOrRestore(sb: Sandbox, runner: Awaited<ReturnType<SandboxRepository['runnerOf']>>, limitedEgress: boolean): Promise<void> {
    if (sb.state === 'archived') return this.restoreOnPickedRunner(sb, sandboxArchiveKey(sb.id), limitedEgress);
    if (runner && runner.state === 'ready') {
      try {
        await this.runners.startSandbox(runner, sb.id, { organizationId: sb.organizationId });
        return;
      } catch (err) {
        if (!(err instanceof RunnerCallError && err.statusCode === 404) || !sb.backupSnapshot) throw err;
        this.log.warn({ sandboxId: sb.id, runnerId: runner.id }, 'runner no longer has the sandbox; recovering it from its last backup');
      }
    } else if (!sb.backupSnapshot) {
      if (!runner) throw new Error('Sandbox has no runner and no backup to recover from');
      const message = `Runner is not ready (${runner.state}) and the sandbox has no backup to recover from`;
      throw runner.state === 'unresponsive' || runner.state === 'initializing' ? new RunnerNotReadyYet(message) : new Error(message);
    } else {
      this.log.warn({ sandboxId: sb.id, runnerId: sb.runnerId }, "sandbox's runner is gone; recovering it from its last backup");
    }
    return this.restoreOnPickedRunner(sb, sb.backupSnapshot, limitedEgress);
  }

  private async restoreOnPickedRunner(sb: Sandbox, key: string, limitedEgress: boolean): Promise<void> {
    const target = await this.runnerRepo.pickForSandbox(sb.region);
    if (!target) throw new Error('No available runners');
    // Recorded before the call, so the new runner's reports about the sandbox are accepted.
    await this.repo.update(sb.id, { runnerId: target.id, prevRunnerId: sb.runnerId ?? sb.prevRunnerId });
    const t0 = Date.now();
    await this.runners.createSandbox(target, { ...createBody(sb, limitedEgress), restoreFrom: key });
    this.log.info({ sandboxId: sb.id, runnerId: target.id, key, ms: Date.now() - t0 }, 'sandbox restored from object storage');
  }
}

/** What the runner needs to create the sandbox (a first create, or a restore from object storage). */
function createBody(sb: Sandbox, limitedEgress: boolean): CreateRunnerSandbox {
  return {
    id: sb.id,
    userId: sb.organizationId,
    snapshot: sb.imageRef ?? sb.snapshot ?? '',
    osUser: sb.osUser,
    cpuQuota: sb.cpu,
    gpuQuota: sb.gpu,
    memoryQuota: sb.mem,
    storageQuota: sb.disk,
    env: sb.env ?? {},
    ...(sb.entrypoint ? { entrypoint: sb.entrypoint } : {}),
    volumes: sb.volumes ?? [],
    networkBlockAll: sb.networkBlockAll,
    ...(sb.networkAllowList ? { networkAllowList: sb.networkAllowList } : {}),
    ...(limitedEgress ? { networkLimitEgress: true } : {}),
    metadata: { organizationId: sb.organizationId },
    // A warm-pool fill yields to user starts on the runner.
    ...(sb.warmPoolId ? { background: true } : {}),
  };
}

function ignoreNotFound(err: unknown): void {
  if (err instanceof RunnerCallError && err.statusCode === 404) return;
  throw err;
}
