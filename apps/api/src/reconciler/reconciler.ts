import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.js';
import type { Sandbox } from '../db/schema.js';
import { OrganizationRepository } from '../repositories/organization.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import { nextAction, settledState, type SandboxAction } from '../services/sandbox-state.js';
import type { RunnerHealthChecker } from '../services/runner.service.js';
import type { RunnerAdapter } from './runner-client.js';
import { RunnerCallError } from './runner-client.js';
import { STATE_CHANNEL, WORK_CHANNEL, type SandboxEvents } from './sandbox-events.js';

export interface ReconcilerOptions {
  intervalMs: number;
  leaseMs: number;
  runnerHealthIntervalMs: number;
  autoTransitionIntervalMs: number;
  /** Sandboxes this process drives at once at most (each is one runner call at a time). */
  maxConcurrent?: number;
  /** Destroy attempts before a sandbox is given up as `error`. */
  maxDestroyAttempts?: number;
}

/**
 * Moves each sandbox's `state` toward its `desiredState`, one idempotent runner call at a time. Runs in every API
 * process; claims in PostgreSQL (row locks + lease, see SandboxRepository.claim) make sure each sandbox is driven by
 * at most one process at a time, and a crashed process's claims expire and are retried by the others.
 */
export class Reconciler {
  readonly owner = `api-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly repo: SandboxRepository;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private rerun = false;
  private stopped = false;
  private lastAutoRun = 0;
  private lastHealthRun = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private active = 0;

  constructor(
    private readonly db: Db,
    private readonly runners: RunnerAdapter,
    private readonly health: RunnerHealthChecker,
    private readonly events: SandboxEvents,
    private readonly log: FastifyBaseLogger,
    private readonly opts: ReconcilerOptions,
  ) {
    this.repo = new SandboxRepository(db);
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

  /** Tells every API process (including this one) that some sandbox wants work. */
  async notifyWork(): Promise<void> {
    await sql`SELECT pg_notify(${WORK_CHANNEL}, '')`.execute(this.db);
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    if (now - this.lastHealthRun >= this.opts.runnerHealthIntervalMs) {
      this.lastHealthRun = now;
      await this.health.checkDueRunners().catch((err: unknown) => this.log.warn({ err }, 'runner health checks failed'));
    }
    if (now - this.lastAutoRun >= this.opts.autoTransitionIntervalMs) {
      this.lastAutoRun = now;
      const changed = await this.repo.applyAutoTransitions();
      if (changed > 0) this.log.info({ changed }, 'auto-stop/archive/delete changed desired states');
    }
    // Claimed sandboxes run as independent tasks so one slow runner call (an image pull) never holds up the tick:
    // auto-transitions, health checks and other sandboxes keep moving. Each finished task wakes the loop again.
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
    this.track(this.drive(id), id, false);
  }

  private async driveClaimed(first: Sandbox): Promise<void> {
    let sb: Sandbox | undefined = first;
    // After each action the desired state may have moved again (e.g. DELETE during create): keep going while we can claim.
    for (let i = 0; sb && i < 8; i++) {
      await this.act(sb);
      if (this.stopped) return;
      [sb] = await this.repo.claim(this.owner, this.opts.leaseMs, 1, sb.id);
    }
  }

  private async act(sb: Sandbox): Promise<void> {
    const action = nextAction(sb.state, sb.desiredState);
    if (!action) {
      await this.repo.finish(sb.id, this.owner, {});
      return;
    }
    const renew = setInterval(() => {
      this.repo.renewClaim(sb.id, this.owner, this.opts.leaseMs).catch(() => {});
    }, Math.max(250, Math.floor(this.opts.leaseMs / 3)));
    renew.unref();
    let set: Record<string, unknown>;
    try {
      await this.perform(action, sb);
      set = { state: settledState(action), errorReason: null, attempts: 0, nextAttemptAt: null, lastActivityAt: sql`now()` };
      if (action === 'destroy') set.destroyedAt = sql`now()`;
    } catch (err) {
      set = this.failure(action, sb, err);
    } finally {
      clearInterval(renew);
    }
    const held = await this.repo.finish(sb.id, this.owner, set);
    if (!held) this.log.warn({ sandboxId: sb.id, action }, 'lost the claim while acting; another process will retry');
    this.events.emitLocal(sb.id);
    await sql`SELECT pg_notify(${STATE_CHANNEL}, ${sb.id})`.execute(this.db).catch(() => {});
  }

  private failure(action: Exclude<SandboxAction, null>, sb: Sandbox, err: unknown): Record<string, unknown> {
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn({ sandboxId: sb.id, action, err: message }, 'runner action failed');
    // Destroy is retried with back-off (a runner may be restarting); giving up leaves the row visible as error.
    if (action === 'destroy' && sb.attempts + 1 < (this.opts.maxDestroyAttempts ?? 5)) {
      const delayMs = Math.min(60_000, 1000 * 2 ** sb.attempts);
      return { attempts: sb.attempts + 1, nextAttemptAt: sql`now() + ${delayMs} * interval '1 millisecond'` };
    }
    return { state: 'error', errorReason: message, attempts: 0, nextAttemptAt: null };
  }

  private async perform(action: Exclude<SandboxAction, null>, sb: Sandbox): Promise<void> {
    if (action === 'archive') return; // files stay on the runner; archived is bookkeeping only in Shoal
    const runner = sb.runnerId ? await this.repo.runnerOf(sb.runnerId) : undefined;
    if (action === 'destroy') {
      if (!runner) return; // never placed (or its runner was deregistered): nothing to tear down
      await this.runners.destroySandbox(runner, sb.id).catch(ignoreNotFound);
      await this.runners.removeSandbox(runner, sb.id).catch(ignoreNotFound);
      return;
    }
    if (!runner) throw new Error('Sandbox has no runner');
    switch (action) {
      case 'create': {
        // The organization's setting applies when the sandbox is created on its runner, as in the reference.
        const org = await new OrganizationRepository(this.db).findById(sb.organizationId);
        await this.runners.createSandbox(runner, {
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
          ...(org?.sandboxLimitedNetworkEgress ? { networkLimitEgress: true } : {}),
          metadata: { organizationId: sb.organizationId },
        });
        return;
      }
      case 'start':
        await this.runners.startSandbox(runner, sb.id, { organizationId: sb.organizationId });
        return;
      case 'stop':
        await this.runners.stopSandbox(runner, sb.id);
        return;
    }
  }
}

function ignoreNotFound(err: unknown): void {
  if (err instanceof RunnerCallError && err.statusCode === 404) return;
  throw err;
}
