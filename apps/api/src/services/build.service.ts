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
import type { SnapshotRunnerClient } from '../reconciler/snapshot-manager.js';
import { BuildInfoRepository } from '../repositories/build-info.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import type { CreateSnapshotBody } from '../routes/snapshots/snapshot-schemas.js';
import type { CreateSandboxBody, SandboxDto, SnapshotDto } from '../schemas.js';
import { toSnapshotDto } from './organization.service.js';
import { internalRegistryProject } from './registry-credentials.js';
import type { SandboxBuilds, SandboxService } from './sandbox.service.js';
import type { SnapshotBuilds } from './snapshot.service.js';

/** The reference gives a build 30 minutes. */
const BUILD_CALL_MS = 30 * 60_000;
const LOG_POLL_MS = 500;
const CANCEL_CHECK_MS = 1000;

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

export interface BuildRunnerClient {
  build(r: RunnerTarget, body: BuildSnapshot): Promise<void>;
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

  async build(r: RunnerTarget, body: BuildSnapshot): Promise<void> {
    let res;
    try {
      res = await request(runnerUrl(r.apiUrl, '/snapshots/build'), {
        method: 'POST',
        headers: { [RUNNER_AUTH_HEADER]: `Bearer ${runnerCallToken(this.platformSecret, r.apiKeyHash)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
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
export class BuildService implements SandboxBuilds, SnapshotBuilds {
  private readonly repo: BuildInfoRepository;
  private readonly sandboxRepo: SandboxRepository;

  constructor(
    db: Db,
    private readonly sandboxes: SandboxService,
    private readonly client: BuildRunnerClient,
    private readonly logsClient: Pick<SnapshotRunnerClient, 'logs'>,
    private readonly registryHost: string,
    private readonly wake: () => void,
    private readonly log: FastifyBaseLogger,
    /** The organization's own login on the internal registry for one build (docker-registry.service.ts buildAccess). */
    private readonly registryAccess?: (organizationId: string) => Promise<RegistryCredentials | undefined>,
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
      dto = await this.sandboxes.create(p, body, snap);
    } catch (err) {
      // A refused create (quota, resources, network rules) must not leave a hidden snapshot that nothing builds.
      if (inserted) await this.repo.deleteUnstartedSnapshot(inserted.id).catch(() => undefined);
      throw err;
    }
    const runnerId = (await this.sandboxRepo.findById(dto.id))?.runnerId ?? undefined;
    this.kick(snap.id, runnerId);
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
    this.kick(row.id, undefined);
    return toSnapshotDto(row, p);
  }

  private kick(snapshotId: string, runnerId: string | undefined): void {
    void this.runBuild(snapshotId, runnerId).catch((err: Error) => this.log.warn({ err, snapshotId }, 'build pipeline failed'));
  }

  private async runBuild(snapshotId: string, runnerId: string | undefined): Promise<void> {
    const snap = await this.repo.findSnapshotById(snapshotId);
    if (!snap || snap.state !== 'build_pending' || !snap.buildInfoSnapshotRef || !snap.internalName) return;
    const info = await this.repo.find(snap.buildInfoSnapshotRef);
    const runner = (runnerId ? await this.repo.runner(runnerId) : undefined) ?? (await this.repo.pickRunner());
    if (!info || !runner) {
      await this.fail(snap, runner ? 'Build information is missing' : 'No runner is available to build the image');
      return;
    }
    // Only the process that moves it out of build_pending builds it.
    if (!(await this.repo.transitionSnapshot(snap.id, ['build_pending'], { state: 'building', buildRunnerId: runner.id, errorReason: null }))) return;
    await this.repo.updateWaitingSandboxes(info.snapshotRef, snap.organizationId!, ['pending_build'], { state: 'building_snapshot' });
    const watch = this.watchForCancel(snap, runner);
    try {
      const internalRegistry = await this.registryAccess?.(snap.organizationId!);
      await this.client.build(runner, {
        snapshot: snap.internalName,
        dockerfile: info.dockerfileContent,
        organizationId: snap.organizationId!,
        context: info.contextHashes,
        ...(internalRegistry ? { internalRegistry } : {}),
        pushToInternalRegistry: true,
      });
    } catch (err) {
      await this.fail({ ...snap, state: 'building' }, watch.cancelled() ? 'Build cancelled' : (err as Error).message || 'Build failed');
      return;
    } finally {
      watch.stop();
    }
    await this.repo.transitionSnapshot(snap.id, ['building'], { state: 'active', lastUsedAt: new Date() });
    await this.settleWaiting({ ...snap, state: 'active' });
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
