import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { Static } from '@sinclair/typebox';
import type { FastifyBaseLogger } from 'fastify';
import { request } from 'undici';
import { RUNNER_AUTH_HEADER, runnerCallToken, type BuildSnapshot, type RegistryCredentials } from '@shoal/contracts';
import type { Db } from '../db/database.js';
import type { Organization, Snapshot } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { RunnerCallError, runnerUrl, type RunnerTarget } from '../reconciler/runner-client.js';
import type { BuildPipeline } from '../reconciler/build-driver.js';
import type { SnapshotRunnerClient } from '../reconciler/snapshot-manager.js';
import { BuildInfoRepository } from '../repositories/build-info.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import type { CreateSnapshotBody } from '../routes/snapshots/snapshot-schemas.js';
import type { CreateSandboxBody, SandboxDto, SnapshotDto } from '../schemas.js';
import { toSnapshotDto } from './organization.service.js';
import { internalRegistryProject } from './registry-credentials.js';
import type { SandboxBuilds, SandboxService } from './sandbox.service.js';
import type { SnapshotBuilds } from './snapshot.service.js';

/** Shoal's default build timeout (SHOAL_BUILD_TIMEOUT_SECONDS); the reference gives a build 30 minutes. */
export const DEFAULT_BUILD_TIMEOUT_MS = 60 * 60_000;
/** The runner call itself never outlives any sensible build timeout; the driver's deadline ends it sooner. */
const BUILD_CALL_MS = 24 * 60 * 60_000;
const LOG_POLL_MS = 500;
const CANCEL_CHECK_MS = 1000;
/** A sandbox create inserts its hidden build snapshot before its sandbox row: the build waits this long for it. */
const WAITER_GRACE_MS = 60_000;

/**
 * The key of a build: the same Dockerfile with the same contexts (in any order) is the same build, as the reference
 * computes it (`sha256(dockerfile + sorted(hashes).join(''))`).
 */
export function buildRef(dockerfileContent: string, contextHashes: string[] = []): string {
  const hex = createHash('sha256')
    .update(dockerfileContent + [...contextHashes].sort().join(''))
    .digest('hex');
  return `shoal-${hex}:shoal`;
}

/** Where the organization's image of a build lives in the internal registry. */
export function buildImageRef(registryHost: string, organizationId: string, ref: string): string {
  const hex = ref.slice('shoal-'.length, ref.indexOf(':'));
  return `${registryHost}/${internalRegistryProject(organizationId)}/build-${hex}:shoal`;
}

/** The image of the Dockerfile's first FROM (flags such as --platform skipped), if any. */
export function baseImage(dockerfile: string): string | undefined {
  for (const line of dockerfile.split('\n')) {
    const m = /^\s*FROM\s+(?:--\S+\s+)*(\S+)/i.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

export interface BuildRunnerClient {
  /** Runs (or, for a build of the same `snapshot` already running on the runner, joins) a build until it ends. */
  build(r: RunnerTarget, body: BuildSnapshot, signal?: AbortSignal): Promise<void>;
  /** Kills the runner's build of `ref` (POST /snapshots/build/cancel). */
  cancel(r: RunnerTarget, ref: string): Promise<void>;
}

export class HttpBuildRunnerClient implements BuildRunnerClient {
  constructor(private readonly platformSecret: string) {}

  async cancel(r: RunnerTarget, ref: string): Promise<void> {
    const res = await request(runnerUrl(r.apiUrl, `/snapshots/build/cancel?snapshot=${encodeURIComponent(ref)}`), {
      method: 'POST',
      headers: { [RUNNER_AUTH_HEADER]: `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}` },
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    await res.body.text();
  }

  async build(r: RunnerTarget, body: BuildSnapshot, signal?: AbortSignal): Promise<void> {
    let res;
    try {
      res = await request(runnerUrl(r.apiUrl, '/snapshots/build'), {
        method: 'POST',
        headers: { [RUNNER_AUTH_HEADER]: `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        ...(signal ? { signal } : {}),
        headersTimeout: BUILD_CALL_MS,
        bodyTimeout: BUILD_CALL_MS,
      });
    } catch (err) {
      throw new RunnerCallError(`Runner unreachable: ${(err as Error).message}`, undefined);
    }
    const text = await res.body.text();
    if (res.statusCode >= 300) throw RunnerCallError.fromAnswer(res.statusCode, text);
  }
}

type SnapshotDtoT = Static<typeof SnapshotDto>;

/**
 * The build pipeline: buildInfo on POST /sandbox and POST /snapshots. One build_info row per distinct build; per
 * organization one snapshot per build, so a second identical create reuses the snapshot (active: a plain create; still
 * building: it waits for the same build). Snapshots go build_pending -> building -> active | build_failed; sandboxes
 * waiting on one go pending_build -> building_snapshot -> unknown (the reconciler then creates them) | error with the
 * build's reason (the SDK fails fast only on `error`).
 */
export interface BuildServiceOptions {
  /** How long a build may run (from its move to `building`) before it ends build_failed and is cancelled. */
  timeoutMs?: number;
  /** Wakes this process's build driver (reconciler/build-driver.ts); other replicas hear the NOTIFY. */
  wakeBuilds?: () => void;
}

export class BuildService implements SandboxBuilds, SnapshotBuilds, BuildPipeline {
  private readonly repo: BuildInfoRepository;
  private readonly sandboxRepo: SandboxRepository;

  constructor(
    db: Db,
    private readonly sandboxes: SandboxService,
    private readonly client: BuildRunnerClient,
    private readonly logsClient: Pick<SnapshotRunnerClient, 'logs' | 'exists'>,
    private readonly registryHost: string,
    private readonly wake: () => void,
    private readonly log: FastifyBaseLogger,
    /** The organization's own login on the internal registry for one build (docker-registry.service.ts buildAccess). */
    private readonly registryAccess?: (organizationId: string) => Promise<RegistryCredentials | undefined>,
    /** The organization's docker-registry entry for an image (docker-registry.service.ts forImage), for a private FROM. */
    private readonly registryFor?: (organizationId: string, imageRef: string) => Promise<RegistryCredentials | undefined>,
    private readonly opts: BuildServiceOptions = {},
  ) {
    this.repo = new BuildInfoRepository(db);
    this.sandboxRepo = new SandboxRepository(db);
  }

  async createSandboxFromBuildInfo(p: UserPrincipal, body: CreateSandboxBody): Promise<SandboxDto> {
    const info = body.buildInfo!;
    const ref = buildRef(info.dockerfileContent, info.contextHashes);
    await this.repo.upsert(ref, info.dockerfileContent, info.contextHashes ?? []);
    let snap = await this.repo.findSnapshot(p.organizationId, ref);
    if (snap?.state === 'active') {
      // Already built for this organization: a plain create from that snapshot, with no rebuild.
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { buildInfo, cpu, gpu, memory, disk, ...rest } = body;
      return this.sandboxes.create(p, { ...rest, snapshot: snap.name });
    }
    if (snap && ['build_failed', 'error'].includes(snap.state)) {
      // A failed build is tried again for a new create (the Dockerfile may depend on something that came back).
      await this.repo.transitionSnapshot(snap.id, ['build_failed', 'error'], { state: 'build_pending', errorReason: null });
      snap = await this.repo.findSnapshotById(snap.id);
    }
    let inserted: Snapshot | undefined;
    if (!snap || snap.state === 'inactive') {
      const res = { cpu: body.cpu || 1, gpu: body.gpu || 0, mem: body.memory || 1, disk: body.disk || 3 };
      snap =
        (inserted = await this.repo.insertSnapshot({
          organizationId: p.organizationId,
          name: snap ? `${ref}-${Date.now()}` : ref,
          imageName: ref,
          internalName: buildImageRef(this.registryHost, p.organizationId, ref),
          buildInfoSnapshotRef: ref,
          hideFromUsers: true,
          ...res,
        })) ?? (await this.repo.findSnapshot(p.organizationId, ref));
      if (!snap) throw Errors.snapshotNotFound(ref);
    }
    let dto: SandboxDto;
    try {
      dto = await this.sandboxes.create(p, body, { build: snap });
    } catch (err) {
      // A refused create (quota, resources, network rules) must not leave a hidden snapshot that nothing builds.
      if (inserted) await this.repo.deleteUnstartedSnapshot(inserted.id).catch(() => undefined);
      throw err;
    }
    this.kick();
    // The build may have ended between our read and the insert: then nobody else moves this sandbox on.
    const now = await this.repo.findSnapshotById(snap.id);
    if (now && !['build_pending', 'building'].includes(now.state)) await this.settleWaiting(now);
    return dto;
  }

  async createSnapshotFromBuildInfo(p: UserPrincipal, body: CreateSnapshotBody, org: Organization): Promise<SnapshotDtoT> {
    const info = body.buildInfo!;
    const ref = buildRef(info.dockerfileContent, info.contextHashes);
    await this.repo.upsert(ref, info.dockerfileContent, info.contextHashes ?? []);
    const built = await this.repo.findSnapshot(org.id, ref);
    const row = await this.repo.insertSnapshot({
      organizationId: org.id,
      name: body.name,
      imageName: ref,
      internalName: buildImageRef(this.registryHost, org.id, ref),
      buildInfoSnapshotRef: ref,
      hideFromUsers: false,
      cpu: body.cpu || 1,
      gpu: body.gpu || 0,
      mem: body.memory || 1,
      disk: body.disk || 3,
    });
    if (!row) throw Errors.snapshotNameTaken(body.name);
    if (built?.state === 'active') {
      // The same build is already in the internal registry for this organization: nothing to rebuild.
      await this.repo.transitionSnapshot(row.id, ['build_pending'], { state: 'active', buildRunnerId: built.buildRunnerId });
      return toSnapshotDto((await this.repo.findSnapshotById(row.id)) ?? row, p);
    }
    this.kick();
    return toSnapshotDto(row, p);
  }

  /** The build driver of this process starts at once; every replica's is woken by the NOTIFY, or its own timer. */
  private kick(): void {
    this.opts.wakeBuilds?.();
    void this.repo.notifyWork().catch(() => undefined);
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  }

  /**
   * Drives one claimed build row (BuildPipeline): build_pending -> building on a runner, or, for a row found
   * `building` (its driver died), re-attaches to the runner's build. Returns how long to wait before the next attempt.
   */
  async driveBuild(claimed: Snapshot, signal: AbortSignal = new AbortController().signal): Promise<number> {
    const snap = await this.repo.findSnapshotById(claimed.id);
    if (!snap || !['build_pending', 'building'].includes(snap.state) || !snap.buildInfoSnapshotRef || !snap.internalName || !snap.organizationId) return 0;
    const info = await this.repo.find(snap.buildInfoSnapshotRef);
    if (!info) {
      await this.fail(snap, 'Build information is missing');
      return 0;
    }
    let runner: RunnerTarget | undefined;
    let startedAt: Date;
    const reattach = snap.state === 'building';
    if (!reattach) {
      if (snap.hideFromUsers && (await this.repo.countWaitingSandboxes(snap.buildInfoSnapshotRef, snap.organizationId)) === 0) {
        // A sandbox create inserts this row before its sandbox: wait for it; one that never came (a refused create
        // whose cleanup was cut short) leaves a row nobody wants, removed here.
        if (Date.now() - snap.createdAt.getTime() < WAITER_GRACE_MS) return 500;
        await this.repo.deleteUnstartedSnapshot(snap.id);
        return 0;
      }
      const placed = await this.repo.waitingSandboxRunner(snap.buildInfoSnapshotRef, snap.organizationId);
      runner = (placed ? await this.repo.runner(placed) : undefined) ?? (await this.repo.pickRunner());
      if (!runner) {
        await this.fail(snap, 'No runner is available to build the image');
        return 0;
      }
      startedAt = new Date();
      // Only the driver that moves it out of build_pending builds it.
      if (!(await this.repo.transitionSnapshot(snap.id, ['build_pending'], { state: 'building', buildRunnerId: runner.id, buildStartedAt: startedAt, errorReason: null }))) return 0;
      await this.repo.updateWaitingSandboxes(info.snapshotRef, snap.organizationId, ['pending_build'], { state: 'building_snapshot' });
    } else {
      runner = snap.buildRunnerId ? await this.repo.runner(snap.buildRunnerId) : undefined;
      startedAt = snap.buildStartedAt ?? snap.updatedAt;
      if (!runner) {
        await this.fail(snap, 'The runner building the image is gone');
        return 0;
      }
    }
    const building: Snapshot = { ...snap, state: 'building', buildRunnerId: runner.id };
    const remainingMs = startedAt.getTime() + this.timeoutMs - Date.now();
    if (remainingMs <= 0) {
      await this.timeOut(building, runner);
      return 0;
    }
    if (reattach) {
      this.log.info({ snapshotId: snap.id, runnerId: runner.id }, 'taking over a build whose driver stopped');
      // Finished on the runner after its driver died: the image is built, pushed and unpacked; nothing to redo.
      if (await this.logsClient.exists(runner, snap.internalName).catch(() => false)) {
        await this.succeed(building);
        return 0;
      }
    }
    return this.runOnRunner(building, info, runner, remainingMs, signal);
  }

  /**
   * Calls the runner's build (which joins a build of the same image reference already running there) and settles the
   * snapshot, unless the deadline passes first: then the build is cancelled and fails as timed out.
   */
  private async runOnRunner(
    snap: Snapshot,
    info: { dockerfileContent: string; contextHashes: string[] },
    runner: RunnerTarget,
    remainingMs: number,
    signal: AbortSignal,
  ): Promise<number> {
    const watch = this.watchForCancel(snap, runner);
    let deadline: NodeJS.Timeout | undefined;
    try {
      const internalRegistry = await this.registryAccess?.(snap.organizationId!);
      // A FROM in a private registry needs the organization's entry for it, as a snapshot pull does; the runner takes
      // one such login per build, so it is that of the first FROM (the SDK's Image writes exactly one).
      const base = baseImage(info.dockerfileContent);
      const registry = base ? await this.registryFor?.(snap.organizationId!, base) : undefined;
      // RUN steps get the organization's egress policy, as its sandboxes do (on top of the runner's floor).
      const limitedEgress = await this.repo.organizationLimitedEgress(snap.organizationId!);
      const call = this.client
        .build(runner, {
          snapshot: snap.internalName!,
          dockerfile: info.dockerfileContent,
          organizationId: snap.organizationId!,
          context: info.contextHashes,
          ...(registry ? { registry } : {}),
          ...(internalRegistry ? { internalRegistry } : {}),
          pushToInternalRegistry: true,
          network: { limitedEgress },
        }, signal)
        .then(() => 'built' as const);
      const end = Date.now() + remainingMs;
      const timedOut = new Promise<'timeout'>((resolve) => {
        // In steps: a timer longer than 2^31-1 ms fires at once.
        const arm = () => {
          const left = end - Date.now();
          if (left <= 0) resolve('timeout');
          else deadline = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
        };
        arm();
      });
      const stopping = new Promise<'stopping'>((resolve) => {
        if (signal.aborted) resolve('stopping');
        signal.addEventListener('abort', () => resolve('stopping'), { once: true });
      });
      // The runner's answer to a timed-out build comes after the cancel, or never: it is not waited for.
      call.catch(() => undefined);
      const first = await Promise.race([call, timedOut, stopping]);
      // This process is stopping: the build goes on on the runner and another driver re-attaches to it.
      if (first === 'stopping') return 0;
      if (first === 'timeout') {
        await this.timeOut(snap, runner);
        return 0;
      }
    } catch (err) {
      if (signal.aborted) return 0;
      await this.fail(snap, watch.cancelled() ? 'Build cancelled' : (err as Error).message || 'Build failed');
      return 0;
    } finally {
      clearTimeout(deadline);
      watch.stop();
    }
    await this.succeed(snap);
    return 0;
  }

  private async succeed(snap: Snapshot): Promise<void> {
    if (await this.repo.transitionSnapshot(snap.id, ['building'], { state: 'active', lastUsedAt: new Date() })) await this.settleWaiting({ ...snap, state: 'active' });
  }

  private async timeOut(snap: Snapshot, runner: RunnerTarget): Promise<void> {
    const limit = this.timeoutMs % 60_000 === 0 ? `${this.timeoutMs / 60_000} minutes` : `${Math.round(this.timeoutMs / 1000)} seconds`;
    this.log.warn({ snapshotId: snap.id, runnerId: runner.id }, 'build timed out');
    await this.fail(snap, `Build timed out after ${limit}`);
    await this.client.cancel(runner, snap.internalName!).catch((err: Error) => this.log.warn({ err, snapshotId: snap.id }, 'cancelling a timed-out build failed'));
  }

  /**
   * Cancels the runner's build once nobody wants it: its snapshot was deleted (left `building`), or, for the hidden
   * snapshot of sandbox creates, every sandbox that waited on it was deleted.
   */
  private watchForCancel(snap: Snapshot, runner: RunnerTarget): { stop(): void; cancelled(): boolean } {
    let cancelled = false;
    let busy = false;
    const timer = setInterval(() => {
      if (busy || cancelled) return;
      busy = true;
      void (async () => {
        const now = await this.repo.findSnapshotById(snap.id);
        const waiting = snap.hideFromUsers ? await this.repo.countWaitingSandboxes(snap.buildInfoSnapshotRef!, snap.organizationId!) : 1;
        if (!now || now.state !== 'building' || waiting === 0) {
          cancelled = true;
          await this.client.cancel(runner, snap.internalName!);
        }
      })()
        .catch((err: Error) => this.log.warn({ err, snapshotId: snap.id }, 'build cancel check failed'))
        .finally(() => {
          busy = false;
        });
    }, CANCEL_CHECK_MS);
    timer.unref();
    return { stop: () => clearInterval(timer), cancelled: () => cancelled };
  }

  private async fail(snap: Snapshot, reason: string): Promise<void> {
    await this.repo.transitionSnapshot(snap.id, ['build_pending', 'building'], { state: 'build_failed', errorReason: reason });
    await this.settleWaiting({ ...snap, state: 'build_failed', errorReason: reason });
  }

  /** Moves the sandboxes waiting on this build on: to `unknown` (created by the reconciler) or to `error`. */
  private async settleWaiting(snap: Snapshot): Promise<void> {
    if (!snap.buildInfoSnapshotRef || !snap.organizationId) return;
    const waiting = ['pending_build', 'building_snapshot'];
    if (snap.state === 'active') {
      // A reconciler may hold a claim taken while the row had nothing to do: dropping it lets the next tick create
      // the sandbox instead of waiting for that lease to expire.
      const n = await this.repo.updateWaitingSandboxes(snap.buildInfoSnapshotRef, snap.organizationId, waiting, {
        state: 'unknown',
        claimedBy: null,
        claimExpiresAt: null,
      });
      if (n > 0) {
        await this.repo.notifyWork().catch(() => undefined);
        this.wake();
      }
    } else {
      await this.repo.updateWaitingSandboxes(snap.buildInfoSnapshotRef, snap.organizationId, waiting, {
        state: 'error',
        errorReason: `Failed to build the image: ${snap.errorReason ?? 'build failed'}`,
      });
    }
  }

  /**
   * The build log of a sandbox created from buildInfo, read from the building runner. With `follow`, it streams until
   * the build has ended and the sandbox has settled (started, error, destroyed), as the SDK expects (§3.2).
   */
  async sandboxBuildLogs(p: UserPrincipal, sandboxId: string, follow: boolean): Promise<Readable | string> {
    const sb = await this.sandboxes.findAccessible(p, sandboxId);
    const ref = sb.buildInfoSnapshotRef;
    if (!ref) return '';
    const out = new PassThrough();
    const ac = new AbortController();
    out.on('close', () => ac.abort());
    void (async () => {
      let sent = 0;
      for (;;) {
        const snap = await this.repo.findSnapshot(sb.organizationId, ref);
        const runner = snap?.buildRunnerId ? await this.repo.runner(snap.buildRunnerId) : undefined;
        if (snap?.internalName && runner) {
          const text = await this.fetchLog(runner, snap.internalName, ac.signal);
          // The runner rewrites the file once when it unpacks the image; a shorter read is a moment of that.
          if (text.length > sent) {
            out.write(text.slice(sent));
            sent = text.length;
          }
        }
        if (!follow || ac.signal.aborted) break;
        const now = await this.sandboxRepo.findById(sandboxId);
        const buildOver = !snap || !['build_pending', 'building'].includes(snap.state);
        if (!now || (buildOver && ['started', 'error', 'build_failed', 'destroyed'].includes(now.state))) break;
        await new Promise((r) => setTimeout(r, LOG_POLL_MS));
      }
      out.end();
    })().catch(() => out.end());
    return out;
  }

  private async fetchLog(runner: RunnerTarget, ref: string, signal: AbortSignal): Promise<string> {
    try {
      const res = await this.logsClient.logs(runner, ref, false, signal);
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      return res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : '';
    } catch {
      return '';
    }
  }
}
