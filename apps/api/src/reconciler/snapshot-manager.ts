import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { request } from 'undici';
import type { PullSnapshot, PullSnapshotResult, ValidateSnapshot, ValidateSnapshotResult } from '@shoal/contracts';
import { RUNNER_AUTH_HEADER, runnerCallToken } from '@shoal/contracts';
import type { Db } from '../db/database.js';
import type { Snapshot } from '../db/schema.js';
import { OrganizationRepository } from '../repositories/organization.repository.js';
import { SnapshotRepository } from '../repositories/snapshot.repository.js';
import { internalSnapshotRef, type RegistryCredentialsLookup } from '../services/registry-credentials.js';
import { ClaimLoop, type ClaimedRows } from './claim-loop.js';
import { RunnerCallError, runnerUrl, type RunnerTarget } from './runner-client.js';
import { SnapshotLifecycle } from './snapshot-lifecycle.js';
import { validateOnRunner } from './snapshot-validation.js';

const PULL_CALL_MS = 15 * 60_000;
const SHORT_CALL_MS = 10_000;
/** The reference gives a pull 15 minutes from the snapshot's creation. */
export const PULL_TIMEOUT_MS = 15 * 60_000;
/** Used when neither the request nor the image says what to run (as the reference does). */
export const DEFAULT_ENTRYPOINT = ['sleep', 'infinity'];

/** The runner calls of the snapshot pipeline: pull, presence, removal and the pull log. */
export interface SnapshotRunnerClient {
  /** The runner answers a PullSnapshotResult, or (runners before the pipeline) a plain string. */
  pull(r: RunnerTarget, body: PullSnapshot): Promise<PullSnapshotResult | string>;
  exists(r: RunnerTarget, ref: string): Promise<boolean>;
  remove(r: RunnerTarget, ref: string): Promise<void>;
  /** A trial run of the unpacked image (snapshot-validation.ts); absent in clients that only read. */
  validate?(r: RunnerTarget, body: ValidateSnapshot): Promise<ValidateSnapshotResult>;
  /** The runner's log for `ref`; statusCode 404 when it has none. */
  logs(r: RunnerTarget, ref: string, follow: boolean, signal: AbortSignal): Promise<{ statusCode: number; body: Readable }>;
}

export class HttpSnapshotRunnerClient implements SnapshotRunnerClient {
  constructor(private readonly platformSecret: string) {}

  private headers(r: RunnerTarget, json: boolean): Record<string, string> {
    return {
      [RUNNER_AUTH_HEADER]: `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}`,
      ...(json ? { 'content-type': 'application/json' } : {}),
    };
  }

  private async call(r: RunnerTarget, method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<string> {
    let res;
    try {
      res = await request(runnerUrl(r.apiUrl, path), {
        method,
        headers: this.headers(r, body !== undefined),
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      throw new RunnerCallError(`Runner unreachable: ${(err as Error).message}`, undefined);
    }
    const text = await res.body.text();
    if (res.statusCode >= 300) throw RunnerCallError.fromAnswer(res.statusCode, text);
    return text;
  }

  async pull(r: RunnerTarget, body: PullSnapshot): Promise<PullSnapshotResult | string> {
    const text = await this.call(r, 'POST', '/snapshots/pull', body, PULL_CALL_MS);
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object' && typeof (parsed as PullSnapshotResult).sizeBytes === 'number') return parsed as PullSnapshotResult;
      return typeof parsed === 'string' ? parsed : text;
    } catch {
      return text;
    }
  }

  async exists(r: RunnerTarget, ref: string): Promise<boolean> {
    const text = await this.call(r, 'GET', `/snapshots/exists?snapshot=${encodeURIComponent(ref)}`, undefined, SHORT_CALL_MS);
    return (JSON.parse(text) as { exists?: boolean }).exists === true;
  }

  async remove(r: RunnerTarget, ref: string): Promise<void> {
    await this.call(r, 'POST', `/snapshots/remove?snapshot=${encodeURIComponent(ref)}`, undefined, PULL_CALL_MS);
  }

  async validate(r: RunnerTarget, body: ValidateSnapshot): Promise<ValidateSnapshotResult> {
    return JSON.parse(await this.call(r, 'POST', '/snapshots/validate', body, PULL_CALL_MS)) as ValidateSnapshotResult;
  }

  async logs(r: RunnerTarget, ref: string, follow: boolean, signal: AbortSignal): Promise<{ statusCode: number; body: Readable }> {
    const res = await request(runnerUrl(r.apiUrl, `/snapshots/logs?snapshotRef=${encodeURIComponent(ref)}&follow=${follow}`), {
      method: 'GET',
      headers: this.headers(r, false),
      signal,
      headersTimeout: SHORT_CALL_MS,
      // A followed log may stay silent for long stretches (a big layer downloading).
      bodyTimeout: 0,
    });
    return { statusCode: res.statusCode, body: res.body };
  }
}

export interface SnapshotManagerOptions {
  intervalMs: number;
  leaseMs: number;
  /** Host of the internal registry, where every validated snapshot is copied. */
  registryHost: string;
  /** Snapshots this process drives at once at most (each holds one runner call). */
  maxConcurrent?: number;
  /** Active snapshots unused this many days become inactive (snapshot-lifecycle.ts); 0 turns that off. */
  autoDeactivateDays?: number;
  /** Never auto-deactivated (besides general snapshots): the default snapshot's name. */
  defaultSnapshot?: string;
}

/**
 * Drives snapshots through pending -> pulling -> pending_validation -> validating -> active (or error), and removing ->
 * gone. Runs in every API process; rows are claimed in PostgreSQL (SKIP LOCKED + lease) so each snapshot is driven
 * by one process at a time and a crashed process's work is retried by the others. Every state write is a
 * compare-and-set on the state, so a user's delete or deactivate during a pull always wins. Woken through the
 * sandbox work channel (migration 4 NOTIFYs it) and by its own timer.
 */
export class SnapshotManager {
  private readonly repo: SnapshotRepository;
  private readonly orgs: OrganizationRepository;
  private readonly lifecycle: SnapshotLifecycle;
  private readonly loop: ClaimLoop<Snapshot>;

  constructor(
    db: Db,
    private readonly runners: SnapshotRunnerClient,
    private readonly credentials: RegistryCredentialsLookup,
    private readonly log: FastifyBaseLogger,
    private readonly opts: SnapshotManagerOptions,
  ) {
    this.repo = new SnapshotRepository(db);
    this.orgs = new OrganizationRepository(db);
    this.lifecycle = new SnapshotLifecycle(db, runners, log, { autoDeactivateDays: opts.autoDeactivateDays ?? 0, defaultSnapshot: opts.defaultSnapshot });
    const repo = this.repo;
    const rows: ClaimedRows<Snapshot> = {
      claim: (owner, leaseMs, limit) => repo.claim(owner, leaseMs, limit),
      renew: (id, owner, leaseMs) => repo.renewClaim(id, owner, leaseMs),
      postpone: (id, owner, ms) => repo.postpone(id, owner, ms),
      release: (id, owner) => repo.release(id, owner),
    };
    this.loop = new ClaimLoop(rows, (s) => (s.state === 'removing' ? this.remove(s) : this.pull(s)), log, {
      name: 'snap',
      intervalMs: opts.intervalMs,
      leaseMs: opts.leaseMs,
      maxConcurrent: opts.maxConcurrent ?? 4,
    });
  }

  get owner(): string {
    return this.loop.owner;
  }

  start(): void {
    this.loop.start();
    this.lifecycle.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.lifecycle.stop();
  }

  /** Something changed (a create, delete, activation or deactivation): drive the work, and remove runner copies. */
  wake(): void {
    this.lifecycle.wake();
    this.loop.wake();
  }


  /** Returns how long to wait before retrying (0: done, whatever the outcome). */
  private async pull(s: Snapshot): Promise<number> {
    const expired = Date.now() - s.createdAt.getTime() > PULL_TIMEOUT_MS;
    const previous = s.buildRunnerId ? await this.repo.runner(s.buildRunnerId) : undefined;
    const runner = previous?.state === 'ready' ? previous : await this.repo.pickRunner();
    if (!runner) {
      if (expired) await this.fail(s, 'No runner was available to pull the snapshot within 15 minutes');
      return expired ? 0 : 2000;
    }
    const destinationRef = internalSnapshotRef(this.opts.registryHost, s.organizationId ?? 'general', s.id, s.imageName);
    const moved = await this.repo.transition(s.id, ['pending', 'pulling', 'pending_validation', 'validating'], {
      state: 'pulling',
      buildRunnerId: runner.id,
      errorReason: null,
    });
    if (!moved) return 0;
    const registry = s.organizationId ? await this.credentials.forImage(s.organizationId, s.imageName) : undefined;
    let result: PullSnapshotResult | string;
    try {
      result = await this.runners.pull(runner, { snapshot: s.imageName, ...(registry ? { registry } : {}), destinationRef });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // An unreachable runner is retried (it may be restarting); anything it answered is the image's verdict.
      if (err instanceof RunnerCallError && err.statusCode === undefined && !expired) {
        this.log.warn({ snapshotId: s.id, err: message }, 'snapshot pull: runner unreachable, retrying');
        return 5000;
      }
      await this.fail(s, pullFailureReason(s.imageName, message));
      return 0;
    }
    if (!(await this.repo.transition(s.id, ['pulling'], { state: 'pending_validation' }))) return 0;
    const copied = typeof result === 'object';
    const internalName = copied ? destinationRef : s.imageName;
    const sizeGb = copied ? Math.round((result as PullSnapshotResult).sizeBytes / 1024 ** 3 * 1000) / 1000 : null;
    const org = s.organizationId ? await this.orgs.findById(s.organizationId) : undefined;
    if (sizeGb !== null && org && sizeGb > org.maxSnapshotSize) {
      await this.fail(s, `Snapshot size (${sizeGb.toFixed(2)}GB) exceeds maximum allowed size of ${org.maxSnapshotSize}GB`, ['pending_validation']);
      return 0;
    }
    if (!(await this.repo.transition(s.id, ['pending_validation'], { state: 'validating' }))) return 0;
    const fromImage = copied ? [...(result as PullSnapshotResult).entrypoint, ...(result as PullSnapshotResult).cmd] : [];
    const entrypoint = s.entrypoint?.length ? s.entrypoint : fromImage.length ? fromImage : copied ? DEFAULT_ENTRYPOINT : null;
    const verdict = await validateOnRunner(this.runners, runner, internalName, entrypoint);
    if (verdict.kind === 'retry' && !expired) return 5000;
    if (verdict.kind !== 'valid') {
      await this.fail(s, verdict.reason, ['validating']);
      return 0;
    }
    await this.repo.transition(s.id, ['validating'], { state: 'active', internalName, size: sizeGb, entrypoint, errorReason: null });
    this.log.info({ snapshotId: s.id, internalName, trialMs: verdict.trialMs }, 'snapshot active');
    return 0;
  }

  private async fail(s: Snapshot, reason: string, from: readonly string[] = ['pending', 'pulling']): Promise<void> {
    this.log.warn({ snapshotId: s.id, reason }, 'snapshot failed');
    await this.repo.transition(s.id, from, { state: 'error', errorReason: reason.slice(0, 4000) });
  }

  /** Takes the image off every ready runner unless another snapshot still uses it, then forgets the snapshot. */
  private async remove(s: Snapshot): Promise<number> {
    // Deleted mid-pull, the snapshot never recorded its internal name, but the runner may already hold the copy.
    const ref = s.internalName ?? (s.buildRunnerId ? internalSnapshotRef(this.opts.registryHost, s.organizationId ?? 'general', s.id, s.imageName) : null);
    if (ref && !s.general && !(await this.repo.imageSharedBy(ref, s.id))) {
      for (const r of await this.repo.readyRunners()) {
        // In use by a sandbox on that runner (409) or already gone (404): the runner's image cleanup takes it later.
        await this.runners.remove(r, ref).catch((err: unknown) => this.log.info({ snapshotId: s.id, runnerId: r.id, err: (err as Error).message }, 'snapshot image not removed from runner'));
      }
    }
    await this.repo.delete(s.id);
    return 0;
  }
}

/** Says which image failed and keeps the registry's own words (they name authentication, unknown manifests...). */
export function pullFailureReason(imageName: string, message: string): string {
  const m = message.trim() || 'unknown error';
  return m.includes(imageName) ? m : `Failed to pull image ${imageName}: ${m}`;
}
