import { timingSafeEqual } from 'node:crypto';
import { isRunnerReportedState, parseNetworkAllowList, TOOLBOX_PORT } from '@shoal/contracts';
import type { Static } from '@sinclair/typebox';
import type { Db } from '../db/database.js';
import type { Organization, Runner, Snapshot } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { hasPermission } from '../auth/principal.js';
import { randomToken } from '../auth/api-key-format.js';
import type { Reconciler } from '../reconciler/reconciler.js';
import type { SandboxEvents } from '../reconciler/sandbox-events.js';
import { OrganizationRepository, SnapshotRepository } from '../repositories/organization.repository.js';
import { SandboxRepository, type SandboxListFilter } from '../repositories/sandbox.repository.js';
import { SshAccessRepository } from '../repositories/ssh-access.repository.js';
import { inTransaction } from '../repositories/transaction.js';
import type { CreateSandboxBody, ListSandboxesQuery, PortPreviewUrl, SandboxDto, SshAccessDto, SshAccessValidationDto } from '../schemas.js';
import { requestBackup } from './sandbox-backup.js';
import { toSandboxDto, type SandboxWithRunner } from './sandbox-dto.js';
import { checkVolumeMounts } from './volume-mounts.js';
import { resolveVolumeMounts } from './volume.service.js';
import { VolumeRepository } from '../repositories/volume.repository.js';
import { RunnerRepository } from '../repositories/runner.repository.js';
import { WARM_POOL_ORGANIZATION_ID } from '../repositories/warm-pool.repository.js';
import { ClaimBatcher } from './claim-batcher.js';
import type { RunnerAdapter } from '../reconciler/runner-client.js';
import type { FastifyBaseLogger } from 'fastify';

export interface SandboxServiceConfig {
  /** Where users reach the SSH gateway (createSshAccess's sshCommand); unset when none runs. */
  sshGateway?: { address: string | undefined };
  defaultSnapshot: string;
  createWaitMs: number;
  /** See Config.maxPendingCreates (0: no cap). */
  maxPendingCreates: number;
  maxAutoArchiveInterval: number;
  publicUrl: string;
  previewDomain: string | undefined;
}

/**
 * What a 429 for a full start queue asks the client to wait: about what a runner on 2 cores needs to start a few
 * sandboxes, so a retrying client neither hammers the API nor waits long after room was made.
 */
const PENDING_CREATES_RETRY_AFTER_S = 5;

/** States in which a create/start wait ends. */
const SETTLED = new Set(['started', 'error', 'build_failed', 'destroyed']);

export interface CreateOptions {
  /** The snapshot being built for this sandbox (services/build.service.ts): it waits in `pending_build`. */
  build?: Snapshot;
  /** Awaited before the create's first change (the request's audit row, RouteContext.audited); its reads go first. */
  beforeChange?: () => Promise<void>;
}

/** The buildInfo half of POST /sandbox (services/build.service.ts). */
export interface SandboxBuilds {
  createSandboxFromBuildInfo(p: UserPrincipal, body: CreateSandboxBody): Promise<SandboxDto>;
}

export class SandboxService {
  /** Set when the build pipeline is wired in; without it buildInfo bodies are refused. */
  builds?: SandboxBuilds;
  /**
   * The runner client that applies a claim (RunnerAdapter.claimSandbox): creates first try to claim a warm-pool
   * sandbox (reconciler/warm-pool-keeper.ts keeps the pools). Without one, pools are never claimed.
   */
  poolClaims?: { adapter: Required<Pick<RunnerAdapter, 'claimSandbox'>>; log: FastifyBaseLogger };
  private readonly sandboxes: SandboxRepository;
  private readonly snapshots: SnapshotRepository;
  private readonly orgs: OrganizationRepository;
  private readonly ssh: SshAccessRepository;
  /** Claims of one organization go in batches, one transaction each (claim-batcher.ts). */
  private readonly claims: ClaimBatcher;

  constructor(
    private readonly db: Db,
    private readonly reconciler: Reconciler,
    private readonly events: SandboxEvents,
    private readonly config: SandboxServiceConfig,
    /** Refuses creates of the default snapshot while it is still being built (503 instead of a sandbox stuck waiting). */
    private readonly readiness?: { assertDefaultSnapshotServable(): Promise<void> },
    /** Reads for answers only (GET), possibly from the row cache (row-cache.ts); checks before writes read fresh. */
    private readonly rowsForReading?: { findById(id: string): Promise<SandboxWithRunner | undefined> },
    /** Where a claimed sandbox's runner is looked up (the runner row cache in app.ts; see claim-batcher.ts). */
    runners: { findById(id: string): Promise<Runner | undefined> } = new RunnerRepository(db),
  ) {
    this.sandboxes = new SandboxRepository(db);
    this.snapshots = new SnapshotRepository(db);
    this.orgs = new OrganizationRepository(db);
    this.ssh = new SshAccessRepository(db);
    this.claims = new ClaimBatcher(db, (org, used, res) => this.checkTotals(org, used, res), runners);
  }

  /** A sandbox of another organization is reported as missing (404), never as forbidden. */
  async findAccessible(p: UserPrincipal, id: string): Promise<SandboxWithRunner> {
    const sb = await this.sandboxes.findById(id);
    if (!sb || (sb.organizationId !== p.organizationId && !p.isAdmin)) throw Errors.sandboxNotFound(id);
    return sb;
  }

  async get(p: UserPrincipal, id: string): Promise<SandboxDto> {
    if (!this.rowsForReading) return toSandboxDto(await this.findAccessible(p, id));
    const sb = await this.rowsForReading.findById(id);
    if (!sb || (sb.organizationId !== p.organizationId && !p.isAdmin)) throw Errors.sandboxNotFound(id);
    return toSandboxDto(sb);
  }

  /**
   * With `build`, the sandbox waits for that snapshot's build (services/build.service.ts): it is inserted in
   * `pending_build` and answered at once, so the SDK can stream the build log.
   */
  async create(p: UserPrincipal, body: CreateSandboxBody, opts: CreateOptions = {}): Promise<SandboxDto> {
    const { build } = opts;
    // Everything before it only reads; nothing after it may happen unless it resolves (the request's audit row).
    const beforeChange = opts.beforeChange ?? (async () => {});
    // Mount paths first: a bad one is the client's mistake whatever else the request says.
    if (body.volumes?.length) checkVolumeMounts(body.volumes);
    if (body.buildInfo && !build) {
      if (body.snapshot) throw Errors.snapshotWithBuildInfo();
      if (!this.builds) throw Errors.buildInfoUnsupported();
      await beforeChange();
      return this.builds.createSandboxFromBuildInfo(p, body);
    }
    if (body.networkAllowList !== undefined) {
      const allow = parseNetworkAllowList(body.networkAllowList);
      if (!allow.ok) throw Errors.badRequest(allow.message);
    }
    const snapshotName = build?.name ?? (body.snapshot?.trim() || this.config.defaultSnapshot);
    // Both reads at once: a create served by the warm pool is a handful of round trips, and each counts.
    const [snapshot, org] = await Promise.all([build ?? this.snapshots.findByIdOrName(p.organizationId, snapshotName), this.orgs.findById(p.organizationId)]);
    if (!snapshot) throw Errors.snapshotNotFound(snapshotName);
    if (!build && snapshot.state !== 'active') throw Errors.snapshotNotActive(snapshotName, snapshot.state);
    if (this.readiness && snapshot.general && snapshot.name === this.config.defaultSnapshot) await this.readiness.assertDefaultSnapshotServable();
    if (!build && (body.cpu || body.gpu || body.memory || body.disk)) throw Errors.resourcesWithSnapshot();

    if (!org) throw Errors.forbidden();
    this.checkSuspended(org);
    const res = { cpu: snapshot.cpu, gpu: snapshot.gpu, mem: snapshot.mem, disk: snapshot.disk };
    this.checkPerSandbox(org, res);

    const autoArchive = this.clampAutoArchive(body.autoArchiveInterval ?? 10080);
    await beforeChange();
    if (!build && this.poolClaims) {
      const claimed = await this.claimPooled(org, snapshot, body, autoArchive);
      if (claimed) return claimed;
    }
    // The runner is chosen outside the transaction: a read of load, which the insert below does not need locked.
    const [, picked] = await Promise.all([this.admitColdCreate(), new RunnerRepository(this.db).pickForSandbox(body.target)]);
    // A cold create drives its own row: inserted claimed by this process, its runner call goes out at once.
    const claim = build ? undefined : this.reconciler.claimForInsert();
    const row = await inTransaction(this.db, async ({ sandboxes: repo, volumes }) => {
      // The answer waits for the create to settle, a synchronous commit that flushes this one's WAL too (or, when the
      // wait runs out first, for flushEarlierCommits).
      if (!build) await repo.commitWithoutFlush();
      await repo.lockOrganization(org.id);
      this.checkTotals(org, await repo.usage(org.id), res);
      const mounts = await resolveVolumeMounts(volumes, org.id, body.volumes);
      // Reported after the quota and volume checks, as those are the caller's to fix.
      if (!picked) throw Errors.noRunners();
      return repo.insert(
        {
          organizationId: org.id,
          region: picked.region,
          runnerId: picked.id,
          class: body.class ?? 'small',
          state: build ? 'pending_build' : 'unknown',
          ...(build ? { buildInfoSnapshotRef: build.buildInfoSnapshotRef } : {}),
          desiredState: 'started',
          snapshot: snapshot.name,
          imageRef: snapshot.internalName ?? snapshot.imageName,
          entrypoint: snapshot.entrypoint,
          osUser: body.user ?? 'daytona',
          env: JSON.stringify(body.env ?? {}),
          labels: JSON.stringify(body.labels ?? {}),
          public: body.public ?? false,
          networkBlockAll: body.networkBlockAll ?? false,
          networkAllowList: body.networkAllowList ?? null,
          cpu: res.cpu,
          gpu: res.gpu,
          mem: res.mem,
          disk: res.disk,
          volumes: JSON.stringify(mounts),
          autoStopInterval: body.autoStopInterval ?? 15,
          autoArchiveInterval: autoArchive,
          autoDeleteInterval: body.autoDeleteInterval ?? -1,
          authToken: randomToken(32),
        },
        claim,
      );
    });
    this.snapshots.touch(snapshot.id).catch(() => {});
    if (row.volumes?.length) new VolumeRepository(this.db).touch([...new Set(row.volumes.map((m) => m.volumeId))]).catch(() => {});
    // The row as inserted, not read again: the build driver may already have moved it to building_snapshot, and the SDK
    // streams the build log only for an answer that says pending_build (§3.2).
    if (build) return toSandboxDto({ ...row, runnerDomain: picked!.domain });
    if (claim) this.reconciler.driveInserted(row, { runner: picked!, org });
    const created = await this.driveAndWait(row.id, !!claim, true);
    // The reference answers a create that ended in error with 400 and the reason, not with the errored sandbox.
    if (created.state === 'error') throw Errors.sandboxFailed(created.errorReason ?? 'unknown error');
    return created;
  }

  /**
   * The operator's bound on the start queue. Creates beyond what runners are working through are admitted and wait
   * their turn (the runner's start queue keeps 2 cores from thrashing); only past this many waiting creates does the
   * platform refuse, with 429 and Retry-After, rather than accept work its runners cannot start before the caller's
   * timeout. Pool fills are not counted: they yield to user work. Best effort across replicas: two creates at once
   * may both pass at the limit.
   */
  private async admitColdCreate(): Promise<void> {
    const limit = this.config.maxPendingCreates;
    if (limit <= 0) return;
    if ((await this.sandboxes.countPendingStarts(WARM_POOL_ORGANIZATION_ID)) >= limit) {
      throw Errors.tooManyPendingCreates(limit, PENDING_CREATES_RETRY_AFTER_S);
    }
  }

  /**
   * A create served from a warm pool: a started sandbox of the same snapshot, resources and OS user becomes the
   * caller's in a transaction that also checks the quotas (shared with the claims of its organization that wait then:
   * claim-batcher.ts), then its runner applies what the pooled container was started without (the create's env,
   * network policy and limited egress, the owner) before the answer, so it is what a cold create would have made. A
   * `target` region claims only a sandbox placed in it. Not eligible, so cold:
   * volumes (mounted at start), snapshots of one organization (a pool is shared by all), and env for a snapshot with
   * an entrypoint (already running without it).
   * A claim the runner cannot apply is released (that sandbox is destroyed) and the create goes cold.
   */
  private async claimPooled(org: Organization, snapshot: Snapshot, body: CreateSandboxBody, autoArchive: number): Promise<SandboxDto | undefined> {
    const env = body.env ?? {};
    if (!snapshot.general || body.volumes?.length || !this.poolClaims) return undefined;
    if (Object.keys(env).length > 0 && snapshot.entrypoint?.length) return undefined;
    const claimed = await this.claims.claim({
      org,
      shape: { snapshot: snapshot.name, cpu: snapshot.cpu, gpu: snapshot.gpu, mem: snapshot.mem, disk: snapshot.disk, osUser: body.user ?? 'daytona' },
      region: body.target,
      set: {
        organizationId: org.id,
        class: body.class ?? 'small',
        labels: body.labels ?? {},
        public: body.public ?? false,
        autoStopInterval: body.autoStopInterval ?? 15,
        autoArchiveInterval: autoArchive,
        autoDeleteInterval: body.autoDeleteInterval ?? -1,
        authToken: randomToken(32),
        env,
        networkBlockAll: body.networkBlockAll ?? false,
        networkAllowList: body.networkAllowList ?? null,
      },
    });
    if (!claimed) return undefined;
    const { row } = claimed;
    // No wake-up of the keeper here: its next tick (SHOAL_WARM_POOL_INTERVAL_MS) refills. A refill started at once
    // takes the CPU the claimer's first commands need (measured on 2 cores: first exec after a claim about 150 ms with
    // an immediate refill, about 60 ms without).
    const runner = claimed.runner;
    try {
      if (!runner) throw new Error('its runner is gone');
      await this.poolClaims.adapter.claimSandbox(runner, row.id, {
        userId: org.id,
        env,
        networkBlockAll: body.networkBlockAll ?? false,
        ...(body.networkAllowList !== undefined ? { networkAllowList: body.networkAllowList } : {}),
        ...(org.sandboxLimitedNetworkEgress ? { networkLimitEgress: true } : {}),
        metadata: { organizationId: org.id },
      });
    } catch (err) {
      const reason = `Warm-pool claim not applied: ${(err as Error).message}`;
      this.poolClaims.log.warn({ sandboxId: row.id, err: (err as Error).message }, 'warm-pool claim failed on the runner; the create goes cold');
      await this.sandboxes.releaseFailedClaim(row.id, WARM_POOL_ORGANIZATION_ID, reason);
      this.reconciler.driveSoon(row.id);
      return undefined;
    }
    // The claim's write dropped the row from the row cache, and the claimer's first toolbox request would read it
    // again on its critical path (measured on 2 cores: 1.5-2.6 ms of that request). Read it now, while the answer
    // goes out; the cache stores it only if nothing changed the row since this read began (row-cache.ts), so this is
    // as safe as any read.
    void this.rowsForReading?.findById(row.id).catch(() => {});
    this.snapshots.touch(snapshot.id).catch(() => {});
    this.events.emitLocal(row.id);
    // The claim's own row is the answer: nothing else writes a claimed sandbox before its creator has it.
    return toSandboxDto({ ...row, runnerDomain: runner.domain });
  }

  async list(p: UserPrincipal, q: ListSandboxesQuery): Promise<{ items: SandboxDto[]; total: number; page: number; totalPages: number }> {
    const page = q.page ?? 1;
    const limit = q.limit ?? 100;
    const filter: SandboxListFilter = {
      organizationId: p.organizationId,
      includeErroredDeleted: q.includeErroredDeleted ?? false,
      sort: (q.sort ?? 'createdAt') as SandboxListFilter['sort'],
      order: (q.order ?? 'desc') as SandboxListFilter['order'],
      limit,
      offset: (page - 1) * limit,
    };
    if (q.id) filter.idPrefix = q.id;
    if (q.labels !== undefined) filter.labels = parseLabels(q.labels);
    const states = asArray(q.states);
    if (states) filter.states = states;
    const snapshots = asArray(q.snapshots);
    if (snapshots) filter.snapshots = snapshots;
    const regions = asArray(q.regions);
    if (regions) filter.regions = regions;
    for (const k of ['minCpu', 'maxCpu', 'minMemoryGiB', 'maxMemoryGiB', 'minDiskGiB', 'maxDiskGiB', 'lastEventAfter', 'lastEventBefore'] as const) {
      if (q[k] !== undefined) (filter as unknown as Record<string, unknown>)[k] = q[k];
    }
    const { items, total } = await this.sandboxes.list(filter);
    return { items: items.map(toSandboxDto), total, page, totalPages: Math.ceil(total / limit) };
  }

  /** The deprecated unpaginated list (`GET /sandbox`). */
  async listAll(p: UserPrincipal, labels: string | undefined, includeErroredDeleted: boolean): Promise<SandboxDto[]> {
    const filter: SandboxListFilter = {
      organizationId: p.organizationId,
      includeErroredDeleted,
      sort: 'createdAt',
      order: 'desc',
      limit: 10_000,
      offset: 0,
    };
    if (labels !== undefined) filter.labels = parseLabels(labels);
    return (await this.sandboxes.list(filter)).items.map(toSandboxDto);
  }

  async start(p: UserPrincipal, id: string): Promise<SandboxDto> {
    // The row may settle between the read and the guarded write (an archive finishing, a stop landing): that is not
    // a conflict with another user's change, so the checks run again against the fresh row before giving up.
    for (let attempt = 0; attempt < 3; attempt++) {
      const sb = await this.findAccessible(p, id);
      if (sb.state === 'started' && sb.desiredState === 'started') return toSandboxDto(sb);
      if (sb.state !== sb.desiredState && !(sb.desiredState === 'archived' && sb.state === 'stopped')) throw Errors.stateChangeInProgress();
      if (sb.state !== 'stopped' && sb.state !== 'archived') throw Errors.notValidState();
      const org = await this.orgs.findById(sb.organizationId);
      if (!org) throw Errors.sandboxNotFound(id);
      this.checkSuspended(org);
      this.checkPerSandbox(org, sb);
      const moved = await inTransaction(this.db, async ({ sandboxes: repo }) => {
        await repo.lockOrganization(org.id);
        this.checkTotals(org, await repo.usage(org.id, sb.id), sb);
        // A new preview token on every start: links handed out before the stop stop working.
        return repo.transition(sb.id, sb, { desiredState: 'started', errorReason: null, authToken: randomToken(32) });
      });
      if (moved) return this.driveAndWait(sb.id);
    }
    throw Errors.stateChangeInProgress();
  }

  async stop(p: UserPrincipal, id: string): Promise<void> {
    const sb = await this.findAccessible(p, id);
    if (sb.state !== 'started' || sb.desiredState !== 'started') throw Errors.notStarted();
    // Ephemeral sandboxes (autoDeleteInterval 0) are destroyed when they stop.
    const desiredState = sb.autoDeleteInterval === 0 ? 'destroyed' : 'stopped';
    if (!(await this.sandboxes.transition(sb.id, sb, { desiredState }))) throw Errors.stateChangeInProgress();
    this.reconciler.driveSoon(sb.id);
  }

  async remove(p: UserPrincipal, id: string): Promise<void> {
    const sb = await this.findAccessible(p, id);
    if (sb.state === 'destroyed') return;
    if (sb.desiredState === 'destroyed') {
      // Deleting again retries a destroy that gave up (the sandbox shows `error` with the reason); otherwise a no-op.
      if (await this.sandboxes.rearmDestroy(sb.id)) this.reconciler.driveSoon(sb.id);
      return;
    }
    // Unconditional: deleting while a create or start is in flight is allowed; the reconciler destroys once that settles.
    await this.sandboxes.requestDestroy(sb.id);
    this.reconciler.driveSoon(sb.id);
  }

  async archive(p: UserPrincipal, id: string): Promise<void> {
    const sb = await this.findAccessible(p, id);
    if (sb.state !== 'stopped' || sb.desiredState !== 'stopped') throw Errors.notStopped();
    if (sb.autoDeleteInterval === 0) throw Errors.ephemeralArchive();
    if (!(await this.sandboxes.transition(sb.id, sb, { desiredState: 'archived' }))) throw Errors.stateChangeInProgress();
    this.reconciler.driveSoon(sb.id);
  }

  /** Asks for a backup (Pending); the reconciler's backup driver runs it on the sandbox's runner. */
  async backup(p: UserPrincipal, id: string): Promise<SandboxDto> {
    const sb = await this.findAccessible(p, id);
    await requestBackup(this.db, sb);
    this.reconciler.wake();
    return toSandboxDto((await this.sandboxes.findById(sb.id)) ?? sb);
  }

  async replaceLabels(p: UserPrincipal, id: string, labels: Record<string, string>): Promise<{ labels: Record<string, string> }> {
    const sb = await this.findAccessible(p, id);
    const updated = await this.sandboxes.update(sb.id, { labels: JSON.stringify(labels) }, { touchActivity: true });
    return { labels: updated?.labels ?? labels };
  }

  async setPublic(p: UserPrincipal, id: string, isPublic: boolean): Promise<void> {
    const sb = await this.findAccessible(p, id);
    await this.sandboxes.update(sb.id, { public: isPublic });
  }

  async setAutoStop(p: UserPrincipal, id: string, minutes: number): Promise<void> {
    if (minutes < 0) throw Errors.badRequest('Auto-stop interval must be non-negative');
    const sb = await this.findAccessible(p, id);
    await this.sandboxes.update(sb.id, { autoStopInterval: minutes }, { touchActivity: true });
  }

  async setAutoArchive(p: UserPrincipal, id: string, minutes: number): Promise<void> {
    if (minutes < 0) throw Errors.badRequest('Auto-archive interval must be non-negative');
    const sb = await this.findAccessible(p, id);
    await this.sandboxes.update(sb.id, { autoArchiveInterval: this.clampAutoArchive(minutes) });
  }

  async setAutoDelete(p: UserPrincipal, id: string, minutes: number): Promise<void> {
    const sb = await this.findAccessible(p, id);
    await this.sandboxes.update(sb.id, { autoDeleteInterval: minutes });
  }

  async regions(p: UserPrincipal): Promise<{ name: string }[]> {
    return (await this.sandboxes.regions(p.organizationId)).map((name) => ({ name }));
  }

  async previewUrl(p: UserPrincipal, id: string, port: number): Promise<Static<typeof PortPreviewUrl>> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw Errors.badRequest('Invalid port');
    const sb = await this.findAccessible(p, id);
    // The toolbox's link is for keys that may drive the toolbox; the proxy demands such a key on that port anyway.
    if (port === TOOLBOX_PORT && !hasPermission(p, 'write:sandboxes')) throw Errors.forbidden();
    return { url: previewUrl(this.config, port, sb.id), token: sb.authToken };
  }

  /** Shoal extension: invalidates every preview link handed out so far; the next preview-url call returns the new token. */
  async rotatePreviewToken(p: UserPrincipal, id: string): Promise<void> {
    const sb = await this.findAccessible(p, id);
    await this.sandboxes.update(sb.id, { authToken: randomToken(32) });
  }

  async createSshAccess(p: UserPrincipal, id: string, minutes: number | undefined): Promise<Static<typeof SshAccessDto>> {
    const m = minutes ?? 60;
    if (!Number.isFinite(m) || m <= 0 || m > 60 * 24 * 30) throw Errors.badRequest('expiresInMinutes must be between 1 and 43200');
    const sb = await this.findAccessible(p, id);
    const row = await this.ssh.replace(sb.id, randomToken(32), m);
    return {
      id: row.id,
      sandboxId: row.sandboxId,
      token: row.token,
      expiresAt: row.expiresAt.toISOString(),
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
      ...(this.config.sshGateway?.address ? { sshCommand: sshCommandFor(this.config.sshGateway.address, row.token) } : {}),
    };
  }

  async revokeSshAccess(p: UserPrincipal, id: string, token: string | undefined): Promise<void> {
    const sb = await this.findAccessible(p, id);
    await this.ssh.revoke(sb.id, token || undefined);
  }

  /**
   * Called only by the SSH gateway (its service credential). Unknown, expired and revoked tokens, and tokens of a
   * sandbox that is gone, answer alike, so the answer says nothing about which sandboxes exist.
   */
  async validateSshAccess(token: string): Promise<Static<typeof SshAccessValidationDto>> {
    const row = token ? await this.ssh.findValid(token) : undefined;
    if (!row) return { valid: false, sandboxId: null };
    const sb = await this.sandboxes.findById(row.sandboxId);
    if (!sb || sb.state === 'destroyed') return { valid: false, sandboxId: null };
    return {
      valid: true,
      sandboxId: row.sandboxId,
      ...(sb.runnerId ? { runnerId: sb.runnerId } : {}),
      ...(sb.runnerDomain ? { runnerDomain: sb.runnerDomain } : {}),
    };
  }

  async forRunner(runnerId: string, states: string | undefined): Promise<SandboxDto[]> {
    const list = states
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return (await this.sandboxes.forRunner(runnerId, list)).map(toSandboxDto);
  }

  /**
   * A runner reports what happened to a sandbox (a crash, an OOM kill, a finished destroy, or the outcome of an action
   * it is doing for us). Only settled states are recorded; transitional reports are acknowledged and dropped because
   * the reconciler owns transitions. A report is an observation: it never overrides a start, stop or delete the user
   * asked for and that is still pending (see SandboxRepository.applyRunnerReport).
   */
  async reportState(runnerId: string, id: string, state: string, errorReason: string | undefined): Promise<void> {
    // The guarded write first: it names the runner, so it changes nothing of a sandbox on another runner. A runner
    // reports every start, most of them while the request that asked for it still holds the row: one round trip then.
    if (isRunnerReportedState(state) && (await this.sandboxes.applyRunnerReport(id, runnerId, state, errorReason))) {
      this.events.emitLocal(id);
      return;
    }
    const sb = await this.sandboxes.findById(id);
    if (!sb || sb.runnerId !== runnerId) throw Errors.sandboxNotFound(id);
  }

  /**
   * Drives the sandbox in this process (fast path) and waits for it to settle or for the wait budget to run out.
   * `driving`: the caller has handed the sandbox to the reconciler already (a create's claimed row).
   * `insertedWithoutFlush`: its row was committed without waiting for the disk (a cold create).
   */
  private async driveAndWait(id: string, driving = false, insertedWithoutFlush = false): Promise<SandboxDto> {
    if (!driving) this.reconciler.driveSoon(id);
    const deadline = Date.now() + this.config.createWaitMs;
    // Every change is heard (locally, and by NOTIFY from other processes); the re-read on a timeout only bounds what a
    // lost notification costs. It backs off, because in a burst every waiting create would otherwise read its row four
    // times a second while it waits for its turn in the runner's start queue.
    let pollMs = 250;
    for (;;) {
      const sb = await this.sandboxes.findById(id);
      if (!sb) throw Errors.sandboxNotFound(id);
      if ((SETTLED.has(sb.state) && sb.state === sb.desiredState) || sb.state === 'error') return toSandboxDto(sb);
      if (Date.now() >= deadline) {
        // Answered before it settled: no synchronous commit has followed the insert yet, so one is made first.
        if (insertedWithoutFlush) await this.sandboxes.flushEarlierCommits();
        return toSandboxDto(sb);
      }
      await this.events.waitForChange(id, Math.min(pollMs, Math.max(1, deadline - Date.now())));
      pollMs = Math.min(pollMs * 2, 1000);
    }
  }

  private clampAutoArchive(minutes: number): number {
    if (minutes === 0 || minutes > this.config.maxAutoArchiveInterval) return this.config.maxAutoArchiveInterval;
    return minutes;
  }

  private checkSuspended(org: Organization): void {
    if (org.suspended && (!org.suspendedUntil || org.suspendedUntil.getTime() > Date.now())) throw Errors.orgSuspended(org.suspensionReason);
  }

  private checkPerSandbox(org: Organization, r: { cpu: number; mem: number; disk: number }): void {
    if (r.cpu > org.maxCpuPerSandbox) throw Errors.forbidden(`CPU request ${r.cpu} exceeds maximum allowed per sandbox (${org.maxCpuPerSandbox})`);
    if (r.mem > org.maxMemoryPerSandbox)
      throw Errors.forbidden(`Memory request ${r.mem}GB exceeds maximum allowed per sandbox (${org.maxMemoryPerSandbox}GB)`);
    if (r.disk > org.maxDiskPerSandbox) throw Errors.forbidden(`Disk request ${r.disk}GB exceeds maximum allowed per sandbox (${org.maxDiskPerSandbox}GB)`);
  }

  private checkTotals(org: Organization, used: { cpu: number; mem: number; disk: number }, r: { cpu: number; mem: number; disk: number }): void {
    if (used.cpu + r.cpu > org.totalCpuQuota) throw Errors.forbidden(`Total CPU quota exceeded. Maximum allowed: ${org.totalCpuQuota}`);
    if (used.mem + r.mem > org.totalMemoryQuota) throw Errors.forbidden(`Total memory quota exceeded. Maximum allowed: ${org.totalMemoryQuota}GiB`);
    if (used.disk + r.disk > org.totalDiskQuota) throw Errors.forbidden(`Total disk quota exceeded. Maximum allowed: ${org.totalDiskQuota}GiB`);
  }

  async isPublic(id: string): Promise<boolean> {
    const sb = await this.sandboxes.findById(id);
    return !!sb && sb.public && sb.state !== 'destroyed';
  }

  async isValidPreviewToken(id: string, token: string): Promise<boolean> {
    const sb = await this.sandboxes.findById(id);
    return !!sb && sb.state !== 'destroyed' && timingSafeEqualStr(sb.authToken, token);
  }

  canWrite(p: UserPrincipal): boolean {
    return hasPermission(p, 'write:sandboxes');
  }
}

export function previewUrl(c: Pick<SandboxServiceConfig, 'publicUrl' | 'previewDomain'>, port: number, sandboxId: string): string {
  if (c.previewDomain) return `${new URL(c.publicUrl).protocol}//${port}-${sandboxId}.${c.previewDomain}`;
  return `${c.publicUrl}/preview/${port}-${sandboxId}`;
}

function asArray(v: string | string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const list = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  return list.length ? list : undefined;
}

function parseLabels(raw: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw Errors.badRequest('labels must be a JSON object of strings');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw Errors.badRequest('labels must be a JSON object of strings');
  }
  return parsed as Record<string, string>;
}

export function timingSafeEqualStr(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** `ssh -p PORT TOKEN@HOST` for a gateway at `host:port` (the token is the user name). */
export function sshCommandFor(address: string, token: string): string {
  const i = address.lastIndexOf(':');
  return `ssh -p ${address.slice(i + 1)} ${token}@${address.slice(0, i)}`;
}
