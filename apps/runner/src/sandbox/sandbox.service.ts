import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'node:http';
import { isEnvName, parseVolumeMounts, type ClaimRunnerSandbox, type CreateRunnerSandbox, type NetworkSettings, type ResizeSandbox, type RunnerSandboxInfo, type RunnerSandboxState } from '@shoal/contracts';
import { Errors, RunnerError } from '../errors.js';
import type { ImageStore } from '../images/image-store.js';
import { NetworkPolicyError, parseAllowList, type Network, type SandboxNet } from '../network/network.js';
import type { RuntimeBackend } from '../runtime/backend.js';
import type { DiskPool } from '../storage/quota.js';
import { ExecError } from '../util/exec.js';
import type { ApiReporter } from './api-reporter.js';
import { SandboxCgroups } from './cgroups.js';
import { ContainerLauncher } from './container-launch.js';
import type { LiveSandbox } from './live-sandbox.js';
import { recoverSandboxes } from './recovery.js';
import type { SandboxMeta, SandboxStore } from './sandbox.store.js';
import { StateSync } from './state-sync.js';
import type { UidPool } from './uid-pool.js';
import type { VolumeDriver } from '../volumes/driver.js';
import { removeVolume } from '../volumes/remove-volume.js';
import { LayerArchiveError, type PackResult, type SandboxLayers } from './sandbox-archive.js';
import { QuietGate } from '../util/quiet-gate.js';
import { Semaphore, type SemaphorePriority } from '../util/semaphore.js';
import { toolboxMergeEnv, toolboxVersion, toolboxWarmUp } from './toolbox-client.js';

export interface SandboxServiceDeps {
  dataDir: string;
  /** The legacy shared range (sandboxes whose meta has no range of their own), which is also the images' on-disk range. */
  uidBase: number;
  /** Each new sandbox's own host uid range comes from here. */
  uids: UidPool;
  /** The compiled `shoal-idmap` (idmapped overlay lower layers). */
  idmapHelper: string;
  bridgeName: string;
  defaultImage: string;
  toolboxDir: string;
  /** The container's process: the daemon from its startup snapshot or its bundle (toolbox-entry.ts); the bundle if unset. */
  toolboxArgs?: readonly string[];
  nodeRuntimeDir: string;
  /** Holds `tini` and `shoal-exec` (static), bind-mounted at /.shoal/bin. */
  shoalBinDir: string;
  /** Snapshot refs that run under the relaxed seccomp profile (SHOAL_RUNNER_UNCONFINED_SNAPSHOTS); empty by default. */
  unconfinedSnapshots?: ReadonlySet<string>;
  backend: RuntimeBackend;
  images: ImageStore;
  network: Network;
  pool: DiskPool;
  store: SandboxStore;
  reporter: ApiReporter;
  /** Archives, backups and restores of writable layers in object storage (sandbox-archive.ts); without it they are refused. */
  layers?: SandboxLayers;
  log: { info: (msg: string) => void; warn: (msg: string) => void };
  toolboxTimeoutMs?: number;
  stopGraceMs?: number;
  /** Disk preparations and container launches running at once (config maxConcurrentStarts); default 2. */
  maxConcurrentStarts?: number;
  /** Mounts sandboxes' volumes (volumes/); without one, a create with volumes is refused. */
  volumes?: VolumeDriver;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/** ext4's largest file is 16 TiB; the sparse image must fit. */
const MAX_DISK_GIB = 8192;
/** How many failed creates' errors are remembered after their resources went back (see failCreate). */
const MAX_FAILED_CREATES = 1000;

/** Network namespaces a runner keeps set up ahead for its next creates (container-launch.ts). */
const SPARE_NETNS = 2;

/**
 * Owns every sandbox's lifecycle (create, start, stop, destroy, remove, resize, shutdown); all actions on one sandbox
 * are serialized by a per-id lock. Putting containers on the host is container-launch.ts's, bringing sandboxes back
 * after a restart recovery.ts's, cgroups cgroups.ts's and keeping the API's view true state-sync.ts's.
 */
export class SandboxService {
  private readonly live = new Map<string, LiveSandbox>();
  /** Failed creates whose resources went back at once: id to the error the API may still ask about. */
  private readonly failedCreates = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private policySync: Promise<void> = Promise.resolve();
  private closing: 'stop' | 'keep' | undefined;
  private readonly cgroups: SandboxCgroups;
  private readonly launcher: ContainerLauncher;
  private readonly stateSync: StateSync;
  /** The admission queue of starts (config maxConcurrentStarts): a burst queues instead of thrashing the CPUs. */
  private readonly starts: Semaphore;
  /** Users' requests to their sandboxes (the proxy reports them): spares are made in their pauses. */
  readonly traffic = new QuietGate();
  /** Spare-making work waiting for such a pause, not yet in the start queue: /metrics counts it as waiting. */
  private deferredUpkeep = 0;

  constructor(private readonly d: SandboxServiceDeps) {
    this.starts = new Semaphore(Math.max(1, d.maxConcurrentStarts ?? 2));
    this.cgroups = new SandboxCgroups(d.bridgeName);
    this.launcher = new ContainerLauncher({ ...d, cgroups: this.cgroups });
    this.stateSync = new StateSync({
      reporter: d.reporter,
      backend: d.backend,
      sandboxes: () => this.live.values(),
      find: (id) => this.live.get(id),
      onDied: (l) =>
        this.locked(l.meta.id, async () => {
          if (l.state !== 'started') return;
          await this.cleanupRuntime(l.meta, false);
          this.setState(l, 'stopped');
        }),
    });
  }

  /** Loads persisted sandboxes and re-adopts the ones whose container still runs. */
  async init(): Promise<void> {
    await this.launcher.init();
    await recoverSandboxes({
      store: this.d.store,
      uids: this.d.uids,
      network: this.d.network,
      backend: this.d.backend,
      log: this.d.log,
      answers: (id) => this.launcher.answers(id),
      release: (meta) => this.cleanupRuntime(meta, false),
      adopt: (l) => this.live.set(l.meta.id, l),
    });
    await this.cgroups.sweep(this.runningIds());
    // A metadata file that exists but did not parse still claims its disk: that is data to look at, not to delete.
    const disks = await this.d.pool.removeUnclaimed(async (id) => this.live.has(id) || (await this.d.store.hasMeta(id)));
    if (disks > 0) this.d.log.warn(`removed ${disks} disk(s) of sandboxes a killed runner never recorded`);
    const strays = await this.d.network.removeStrays(this.usedIndexes());
    if (strays > 0) this.d.log.info(`removed ${strays} network namespace(s) no sandbox holds (spares of an earlier run)`);
    await this.syncPolicies();
  }

  /** With nothing running, the runner's parent cgroups go too (the next start recreates them). */
  async removeCgroupParents(): Promise<void> {
    await this.cgroups.removeParents(this.runningIds());
  }

  /** Starts running and waiting for a slot, for /metrics. */
  get startQueue(): { active: number; waiting: number } {
    const { active, waiting } = this.starts.load;
    return { active, waiting: waiting + this.deferredUpkeep };
  }

  private runningIds(): Set<string> {
    return new Set([...this.live.values()].filter((l) => l.state === 'started').map((l) => l.meta.id));
  }

  /** Notices containers that died on their own and, when an API is configured, repairs its view of our sandboxes. */
  startStateSync(intervalMs: number): void {
    this.stateSync.start(intervalMs);
  }

  /** Tells the API where every sandbox stands, e.g. after this runner was down. */
  reportAll(): void {
    this.stateSync.reportAll();
  }

  /**
   * The runner is going away. With `stop`, new creates and starts are refused (503) and creates already running give
   * up at their next step, so the stop that follows them in the per-sandbox queue has little to undo; with `keep`,
   * only new work is refused and work in flight finishes, so what keeps running is whole.
   */
  beginShutdown(mode: 'stop' | 'keep'): void {
    this.closing = mode;
  }

  /**
   * Stops every sandbox that has anything on the host (files stay), each after whatever create, start or delete is in
   * flight for it: a create is stopped once it has given up or finished, a delete is left to finish its own cleanup.
   */
  async stopAll(): Promise<void> {
    // Creates that were queued before the shutdown began appear only once they run: go round until none is left.
    for (let round = 0; round < 3; round++) {
      const pending = [...this.live.values()].filter((l) => l.state !== 'stopped' && l.state !== 'destroyed').map((l) => l.meta.id);
      await Promise.all(
        pending.map((id) =>
          this.locked(id, async () => {
            const l = this.live.get(id);
            if (!l || l.state === 'stopped' || l.state === 'destroyed') return;
            await this.cleanupRuntime(l.meta, true);
            l.agent?.destroy();
            l.agent = undefined;
            this.setState(l, 'stopped');
          }).catch((err: Error) => this.d.log.warn(`stop ${id}: ${err.message}`)),
        ),
      );
      await this.settle();
      if (![...this.live.values()].some((l) => l.state !== 'stopped' && l.state !== 'destroyed')) return;
    }
  }

  /** Waits until no action holds any sandbox (bounded by the caller): what keeps running must not be half-made. */
  async settle(): Promise<void> {
    while (this.locks.size > 0) await Promise.all([...this.locks.values()]);
  }

  /**
   * Last resort when the orderly stop ran out of time: releases every sandbox's runtime, mounts and netns without
   * waiting for its queue, and removes containers the runtime knows that no sandbox claims.
   */
  async forceCleanup(): Promise<void> {
    await Promise.all(
      [...this.live.values()].map((l) =>
        this.cleanupRuntime(l.meta, false).catch((err: Error) => this.d.log.warn(`force cleanup ${l.meta.id}: ${err.message}`)),
      ),
    );
    for (const id of await this.d.backend.list().catch(() => [] as string[])) {
      await this.d.backend.kill(id, 'KILL').catch(() => undefined);
      await this.d.backend.delete(id).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.stateSync.stop();
    for (const l of this.live.values()) l.agent?.destroy();
    await this.launcher.drain();
  }

  // ---- queries -------------------------------------------------------------------------------------------

  info(id: string): RunnerSandboxInfo {
    const l = this.live.get(id);
    const failed = this.failedCreates.get(id);
    if (!l && failed !== undefined) return { state: 'error', backupState: 'NONE', errorReason: failed };
    if (!l) throw Errors.sandboxNotFound(id);
    return { state: l.state, backupState: 'NONE', ...(l.errorReason ? { errorReason: l.errorReason } : {}) };
  }

  socketPath(id: string): string {
    return this.launcher.socketPath(id);
  }

  /**
   * For a request to a sandbox whose daemon has not booted yet: boots it ahead of the waiting starts, and resolves
   * once it answered or failed (the request then finds the sandbox as that left it). Undefined otherwise.
   */
  bootFor(id: string): Promise<void> | undefined {
    return this.live.get(id)?.wake?.();
  }

  /** Where the proxy sends traffic for a started sandbox. */
  target(id: string): { socketPath: string; ip: string; agent: Agent } {
    const l = this.live.get(id);
    if (!l) throw Errors.sandboxNotFound(id);
    if (l.state !== 'started') throw Errors.notRunning(id);
    l.agent ??= new Agent({ keepAlive: true, maxSockets: 256 });
    return { socketPath: this.socketPath(id), ip: this.d.network.ipFor(l.meta.index), agent: l.agent };
  }

  has(id: string): boolean {
    return this.live.has(id) || this.failedCreates.has(id);
  }

  /** The first `max` bytes of what the sandbox's toolbox logged (a file the runner opened; never a path inside it). */
  async toolboxLog(id: string, max = 64 * 1024): Promise<string> {
    const fh = await open(join(this.d.store.sandboxDir(id), 'toolbox.log'), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
    if (!fh) return '';
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  }

  all(): { meta: SandboxMeta; state: RunnerSandboxState }[] {
    return [...this.live.values()].map((l) => ({ meta: l.meta, state: l.state }));
  }

  networkSettings(id: string): NetworkSettings {
    const l = this.live.get(id);
    if (!l) throw Errors.sandboxNotFound(id);
    return { networkBlockAll: !!l.meta.policy.networkBlockAll, networkAllowList: l.meta.policy.networkAllowList ?? '' };
  }

  // ---- actions -------------------------------------------------------------------------------------------

  /**
   * `awaitToolbox`: answer only once the sandbox's toolbox answers (a snapshot trial judges the image by it). A
   * pooled (background) create always waits: the pool offers only sandboxes whose daemon is up.
   */
  create(dto: CreateRunnerSandbox, opts: { awaitToolbox?: boolean } = {}): Promise<string> {
    if (!ID_RE.test(dto.id)) throw Errors.badRequest('Sandbox id must be 1-63 characters of [A-Za-z0-9_.-]');
    if (!USER_RE.test(dto.osUser)) throw Errors.badRequest(`Invalid osUser: ${dto.osUser}`);
    if (dto.storageQuota > MAX_DISK_GIB) throw Errors.badRequest(`storageQuota must be at most ${MAX_DISK_GIB} GiB`);
    this.validatePolicy(dto);
    const volumes = parseVolumeMounts(dto.volumes);
    if (!volumes.ok) throw Errors.badRequest(volumes.message);
    if (volumes.mounts.length > 0 && !this.d.volumes) throw Errors.badRequest('This runner has no volume driver');
    this.refuseWhileClosing();
    return this.locked(dto.id, async () => {
      this.failedCreates.delete(dto.id);
      const existing = this.live.get(dto.id);
      if (existing && existing.state === 'started') return dto.id;
      if (existing && existing.state !== 'destroyed') {
        await this.startLocked(existing);
        return dto.id;
      }
      if (existing) await this.removeLocked(existing);

      const meta: SandboxMeta = {
        id: dto.id,
        userId: dto.userId,
        snapshot: dto.snapshot,
        osUser: dto.osUser,
        cpu: dto.cpuQuota,
        memoryGiB: dto.memoryQuota,
        diskGiB: dto.storageQuota,
        env: dto.env ?? {},
        entrypoint: dto.entrypoint ?? [],
        policy: { networkBlockAll: !!dto.networkBlockAll, networkAllowList: dto.networkAllowList ?? '', limitedEgress: !!dto.networkLimitEgress },
        metadata: dto.metadata ?? {},
        ...(volumes.mounts.length ? { volumes: volumes.mounts } : {}),
        index: this.allocateIndex(),
        uidBase: this.allocateUids(),
        desired: 'started',
        createdAt: new Date().toISOString(),
      };
      const live: LiveSandbox = { meta, state: 'pulling_snapshot' };
      // From here on removeLocked gives the range back.
      this.live.set(meta.id, live);
      this.setState(live, 'pulling_snapshot');
      try {
        await this.pullForSandbox(dto.snapshot, dto.registry);
        this.giveUpIfStopping();
        this.setState(live, 'creating');
        const priority = dto.background ? 'low' : 'normal';
        // A warm pool's fill, asked for as soon as a pooled sandbox was claimed, waits for the claimer's first commands.
        if (dto.background) {
          await this.traffic.settled();
          this.giveUpIfStopping();
        }
        await this.starts.run(() => this.d.pool.prepare(meta.id, meta.diskGiB), priority);
        if (dto.restoreFrom) {
          this.setState(live, 'restoring');
          await this.layersCall(() => this.layers().restore(meta.id, this.uidsOf(meta), dto.restoreFrom!, meta.diskGiB * 1024 ** 3));
        }
        await this.d.store.save(meta);
        await this.startContainer(live, priority, !!dto.background || !!opts.awaitToolbox);
        this.refillSpares();
        if (dto.background) await toolboxWarmUp(this.socketPath(meta.id));
        return meta.id;
      } catch (err) {
        throw await this.failCreate(live, err);
      }
    });
  }

  start(id: string, metadata?: Record<string, string>): Promise<void> {
    this.refuseWhileClosing();
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (metadata) l.meta.metadata = { ...l.meta.metadata, ...metadata };
      if (l.state === 'started') return;
      if (l.state === 'destroyed') throw Errors.conflict(`Sandbox ${id} is destroyed`);
      await this.startLocked(l);
    });
  }

  stop(id: string): Promise<void> {
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (l.state === 'destroyed') throw Errors.conflict(`Sandbox ${id} is destroyed`);
      this.setState(l, 'stopping');
      l.meta.desired = 'stopped';
      await this.d.store.save(l.meta);
      await this.cleanupRuntime(l.meta, true);
      l.agent?.destroy();
      l.agent = undefined;
      this.setState(l, 'stopped');
    });
  }

  destroy(id: string): Promise<void> {
    return this.locked(id, async () => {
      if (!this.live.has(id) && this.failedCreates.has(id)) return; // nothing of it is left; remove forgets it
      const l = this.mustGet(id);
      if (l.state === 'destroyed') return;
      this.setState(l, 'destroying');
      l.meta.desired = 'destroyed';
      await this.d.store.save(l.meta);
      await this.cleanupRuntime(l.meta, false);
      l.agent?.destroy();
      l.agent = undefined;
      this.setState(l, 'destroyed');
    });
  }

  remove(id: string): Promise<void> {
    return this.locked(id, async () => {
      if (!this.live.has(id) && this.failedCreates.delete(id)) {
        void this.d.reporter.reportState(id, 'destroyed');
        return;
      }
      const l = this.mustGet(id);
      await this.removeLocked(l);
    });
  }

  resize(id: string, dto: ResizeSandbox): Promise<void> {
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (l.state === 'destroyed') throw Errors.conflict(`Sandbox ${id} is destroyed`);
      if (dto.cpu !== undefined) l.meta.cpu = dto.cpu;
      if (dto.memory !== undefined) l.meta.memoryGiB = dto.memory;
      if (l.state === 'started') {
        const prev = l.state;
        this.setState(l, 'resizing');
        try {
          await this.d.backend.update(id, { cpu: dto.cpu, memoryGiB: dto.memory });
        } finally {
          this.setState(l, prev);
        }
      }
      await this.d.store.save(l.meta);
    });
  }

  setNetworkSettings(id: string, s: NetworkSettings): Promise<void> {
    try {
      parseAllowList(s.networkAllowList);
    } catch (err) {
      throw Errors.badRequest((err as Error).message);
    }
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (s.networkBlockAll !== undefined) l.meta.policy.networkBlockAll = s.networkBlockAll;
      if (s.networkAllowList !== undefined) l.meta.policy.networkAllowList = s.networkAllowList;
      await this.d.store.save(l.meta);
      await this.syncPolicies();
    });
  }

  /**
   * A warm-pool sandbox becomes a tenant's. The pooled container runs only its toolbox, so what a cold create would
   * have started with is applied now, before the answer: the environment (merged into what the toolbox gives every
   * process it starts, and kept in the metadata for later starts), the network policy, and the owner. Refused unless
   * started: the API then gives the caller a cold create instead.
   */
  claim(id: string, c: ClaimRunnerSandbox): Promise<void> {
    this.validatePolicy(c);
    this.refuseWhileClosing();
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (l.state !== 'started') throw Errors.conflict(`Sandbox ${id} is not started (${l.state})`);
      const env = Object.fromEntries(Object.entries(c.env).filter(([k]) => isEnvName(k)));
      // Through the agent the proxy uses for this sandbox, so the claimer's first request finds a connection open
      // instead of opening one (measured on 2 cores: 1-2 ms of that request's time). Without an environment to send,
      // a version call opens it once this claim has answered (at the end), while the API answers the create.
      const { socketPath, agent } = this.target(id);
      if (Object.keys(env).length > 0) {
        try {
          await toolboxMergeEnv(socketPath, env, agent);
        } catch (err) {
          throw Errors.upstream((err as Error).message);
        }
      }
      const before = JSON.stringify(l.meta.policy);
      if (c.networkBlockAll !== undefined) l.meta.policy.networkBlockAll = c.networkBlockAll;
      if (c.networkAllowList !== undefined) l.meta.policy.networkAllowList = c.networkAllowList;
      if (c.networkLimitEgress) l.meta.policy.limitedEgress = true;
      l.meta.env = { ...l.meta.env, ...env };
      l.meta.userId = c.userId;
      l.meta.metadata = { ...l.meta.metadata, ...c.metadata };
      await this.d.store.save(l.meta);
      if (JSON.stringify(l.meta.policy) !== before) await this.syncPolicies();
      // The claimer's first request is on its way: the pool's fill and spares wait for it.
      this.traffic.touch();
      // In the next turn of the event loop, after the claim's answer is written: begun earlier, the call's answer
      // was handled before the claim's (measured: the claim 1-2 ms slower).
      if (Object.keys(env).length === 0) setImmediate(() => void toolboxVersion(socketPath, agent));
    });
  }

  /** Packs a stopped sandbox's writable layer into object storage, then removes everything of it from this runner. */
  archive(id: string, key: string): Promise<PackResult> {
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (l.state !== 'stopped') throw Errors.conflict(`Sandbox ${id} is not stopped (${l.state})`);
      const r = await this.layersCall(() => this.layers().pack(id, this.uidsOf(l.meta), key, false));
      await this.removeLocked(l);
      return r;
    });
  }

  /** Packs the writable layer of a started (frozen meanwhile) or stopped sandbox into object storage under `key`. */
  backup(id: string, key: string): Promise<PackResult> {
    return this.locked(id, async () => {
      const l = this.mustGet(id);
      if (l.state !== 'stopped' && l.state !== 'started') throw Errors.conflict(`Sandbox ${id} cannot be backed up while ${l.state}`);
      return this.layersCall(() => this.layers().pack(id, this.uidsOf(l.meta), key, l.state === 'started'));
    });
  }

  private layers(): SandboxLayers {
    if (!this.d.layers?.configured) throw new RunnerError(503, 'This runner has no object storage for archives and backups (SHOAL_S3_*)');
    return this.d.layers;
  }

  private uidsOf(meta: SandboxMeta): number {
    return meta.uidBase ?? this.d.uidBase;
  }

  /** A refused or missing archive is the caller's 400, not a runner fault. */
  private async layersCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof LayerArchiveError) throw Errors.badRequest(err.message);
      throw err;
    }
  }

  /** Deletes a volume's data on this host; refused while a sandbox here mounts it. */
  removeVolume(volumeId: string): Promise<void> {
    return removeVolume(this.d.volumes, volumeId);
  }

  // ---- internals -----------------------------------------------------------------------------------------

  private validatePolicy(p: { networkAllowList?: string }): void {
    try {
      parseAllowList(p.networkAllowList);
    } catch (err) {
      if (err instanceof NetworkPolicyError) throw Errors.badRequest(err.message);
      throw err;
    }
  }

  private refuseWhileClosing(): void {
    if (this.closing) throw Errors.shuttingDown();
  }

  /** Between the steps of a start: with stop-on-exit a start in flight gives up (fail() undoes what it did). */
  private giveUpIfStopping(): void {
    if (this.closing === 'stop') throw Errors.shuttingDown();
  }

  private mustGet(id: string): LiveSandbox {
    const l = this.live.get(id);
    if (!l) throw Errors.sandboxNotFound(id);
    return l;
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private setState(l: LiveSandbox, state: RunnerSandboxState): void {
    l.state = state;
    // A boot is only ever asked of the container that is running now (startContainer sets it after setting this).
    if (state !== 'started') l.wake = undefined;
    if (state !== 'error') l.errorReason = undefined;
    void this.d.reporter.reportState(l.meta.id, state);
  }

  /** Puts the sandbox in `error` with a one-line reason and returns the error to surface to the caller. */
  private async fail(l: LiveSandbox, err: unknown): Promise<RunnerError> {
    const reason = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 500) : String(err);
    this.d.log.warn(`sandbox ${l.meta.id} failed: ${reason}`);
    await this.cleanupRuntime(l.meta, false).catch(() => undefined);
    l.state = 'error';
    l.errorReason = reason;
    void this.d.reporter.reportState(l.meta.id, 'error');
    return err instanceof RunnerError ? err : new RunnerError(500, `Sandbox ${l.meta.id} failed: ${reason}`);
  }

  /** A reference the registry cannot serve is the caller's mistake (400), not a runner fault. */
  private async pullForSandbox(ref: string, registry?: CreateRunnerSandbox['registry']): Promise<void> {
    try {
      await this.d.images.ensure(ref, registry);
    } catch (err) {
      if (err instanceof ExecError) {
        throw new RunnerError(400, `Failed to pull snapshot ${ref}: ${err.result.stderr.trim().split('\n').pop()?.slice(0, 300) ?? ''}`);
      }
      throw err;
    }
  }

  private allocateIndex(): number {
    const index = this.launcher.pickIndex(this.usedIndexes(), this.d.network.capacity);
    if (index === undefined) throw Errors.capacity();
    return index;
  }

  private usedIndexes(): Set<number> {
    return new Set([...this.live.values()].map((l) => l.meta.index));
  }

  private allocateUids(): number {
    const base = this.d.uids.allocate();
    if (base === undefined) throw new RunnerError(503, `Runner has no free host uid range (all ${this.d.uids.ranges} in use)`);
    return base;
  }

  private netOf(meta: SandboxMeta): SandboxNet {
    return { index: meta.index, ip: this.d.network.ipFor(meta.index), policy: meta.policy };
  }

  /**
   * Rewrites the policy sets from the current state. Serialized, and the list is computed when the turn comes:
   * two sandboxes starting at once must not let an older snapshot of the list overwrite a newer one.
   */
  private syncPolicies(): Promise<void> {
    const run = () => {
      const active = [...this.live.values()]
        .filter((l) => ['started', 'starting', 'creating', 'resizing'].includes(l.state))
        .map((l) => this.netOf(l.meta));
      return this.d.network.syncPolicies(active);
    };
    const next = this.policySync.then(run, run);
    this.policySync = next.catch(() => undefined);
    return next;
  }

  private async startLocked(l: LiveSandbox): Promise<void> {
    this.setState(l, 'starting');
    l.meta.desired = 'started';
    try {
      await this.pullForSandbox(l.meta.snapshot);
      if (!(await this.d.pool.prepared(l.meta.id))) await this.starts.run(() => this.d.pool.prepare(l.meta.id, l.meta.diskGiB));
      await this.d.store.save(l.meta);
      await this.startContainer(l);
    } catch (err) {
      throw await this.fail(l, err);
    }
  }

  /**
   * Launches the container and marks the sandbox started once its process runs; with `awaitToolbox`, only once its
   * toolbox answers too. Otherwise the daemon's own start overlaps the answer's way back to the user and the user's
   * first request (which waits in the daemon's socket backlog meanwhile), and a toolbox that never comes up puts the
   * sandbox in error (watchToolbox).
   */
  private async startContainer(l: LiveSandbox, priority: 'normal' | 'low' = 'normal', awaitToolbox = false): Promise<void> {
    const launch = {};
    l.launch = launch;
    // Queued behind other starts, not beside them: the toolbox's start timeout counts from its boot, not the queue.
    const launched = await this.starts.run(async () => {
      const started = await this.launcher.launch(l.meta, {
        syncPolicies: () => this.syncPolicies(),
        checkpoint: () => this.giveUpIfStopping(),
        onPid: (pid) => (l.pid = pid),
      });
      if (awaitToolbox) {
        await started.boot();
        this.traffic.touch();
      }
      return started;
    }, priority);
    if (!awaitToolbox) {
      // The daemon boots once no start waits, or ahead of the waiting starts when a request for the sandbox comes
      // first (wake): in a burst each create is answered after its own container's start, and the daemons' Node.js
      // boots (most of a start's CPU) follow, the ones a request waits for first. A boot holds a slot until the daemon
      // answers, so that the boots never all run at once (sharing the CPUs, every one would finish late).
      const boot = (priority: SemaphorePriority) =>
        this.starts.run(async () => {
          try {
            await launched.boot(() => l.launch === launch && l.state === 'started');
          } finally {
            // The user's first request is on its way, if not already waiting in the daemon's backlog.
            this.traffic.touch();
          }
        }, priority);
      const ready = boot('low');
      let urgent: Promise<void> | undefined;
      const wake = () =>
        (urgent ??= boot('high')
          .catch(() => undefined)
          .finally(() => {
            if (l.wake === wake) l.wake = undefined;
          }));
      l.wake = wake;
      void ready.then(
        () => {
          if (l.wake === wake) l.wake = undefined;
        },
        () => undefined,
      );
      this.watchToolbox(l, launch, ready);
    }
    l.agent?.destroy();
    l.agent = undefined;
    this.setState(l, 'started');
  }

  /**
   * Tops up the disks and network namespaces made ahead for the next creates. Asked once this create's container
   * runs; served by the start queue's idle lane, so after its toolbox answered and while no other start runs or waits,
   * and only in a pause of users' requests (QuietGate): the new sandbox's first command is usually under way then.
   */
  private refillSpares(): void {
    const idle = async (work: () => Promise<void>) => {
      const since = this.traffic.mark();
      for (;;) {
        this.deferredUpkeep++;
        try {
          await this.traffic.settled(since);
        } finally {
          this.deferredUpkeep--;
        }
        // Into the queue's count in the same tick, so that /metrics never sees this work in neither. The slot may come
        // only after a start that began meanwhile, whose first request then is under way: look again once in the slot.
        const ran = await this.starts.run(async () => {
          if (!this.traffic.waited(since)) return false;
          await work();
          return true;
        }, 'idle');
        if (ran) return;
      }
    };
    const wanted = () => !this.closing;
    void this.d.pool.refill(idle, wanted);
    void this.launcher.refillNets(SPARE_NETNS, () => this.usedIndexes(), this.d.network.capacity, idle, wanted);
  }

  /**
   * A sandbox marked started before its toolbox answered goes to error if the toolbox never does, unless the launch
   * is no longer current by then (stopped, deleted, restarted) or the runner is closing (its shutdown handles it).
   */
  private watchToolbox(l: LiveSandbox, launch: object, ready: Promise<void>): void {
    ready.catch((err: unknown) =>
      this.locked(l.meta.id, async () => {
        if (this.closing || this.live.get(l.meta.id) !== l || l.launch !== launch || l.state !== 'started') return;
        await this.fail(l, err);
      }).catch((e: unknown) => this.d.log.warn(`sandbox ${l.meta.id}: could not record its toolbox's failure: ${(e as Error).message}`)),
    );
  }

  /** Stops processes and releases runtime resources; the writable layer stays. */
  private async cleanupRuntime(meta: SandboxMeta, graceful: boolean): Promise<void> {
    await this.launcher.release(meta, graceful, async () => {
      const l = this.live.get(meta.id);
      if (l && l.state !== 'destroyed') l.state = 'stopping';
      // Stopping everything on exit removes the whole table afterwards: one nft run per sandbox, serialized, would only
      // make the shutdown slower.
      if (this.closing !== 'stop') await this.syncPolicies();
    });
  }

  private async removeLocked(l: LiveSandbox): Promise<void> {
    const meta = l.meta;
    if (l.state !== 'destroyed') {
      meta.desired = 'destroyed';
      await this.cleanupRuntime(meta, false);
    }
    await this.releaseHost(meta);
    l.agent?.destroy();
    this.live.delete(meta.id);
    void this.d.reporter.reportState(meta.id, 'destroyed');
  }

  /** Gives back what the sandbox holds on this host: network slot, writable layer, files, then its uid range. */
  private async releaseHost(meta: SandboxMeta): Promise<void> {
    await this.launcher.networkGone(meta.index);
    await this.d.pool.remove(meta.id);
    await rm(this.d.store.sandboxDir(meta.id), { recursive: true, force: true });
    // Only once no file of the sandbox is left may another sandbox get its ids.
    if (meta.uidBase !== undefined) this.d.uids.release(meta.uidBase);
  }

  /**
   * A create that failed has nothing a user could want back (its disk is new, or a copy of an archive that stays in
   * object storage), yet its row stays in error until someone deletes it, often never. So it gives back its uid range,
   * network slot and disk at once, and only its error is remembered: otherwise each failed create would hold a range
   * of the runner's few hundred for good.
   */
  private async failCreate(l: LiveSandbox, err: unknown): Promise<RunnerError> {
    const e = await this.fail(l, err);
    try {
      await this.releaseHost(l.meta);
    } catch (cleanup) {
      // Kept whole: the delete that follows retries the cleanup.
      this.d.log.warn(`sandbox ${l.meta.id}: releasing a failed create: ${(cleanup as Error).message}`);
      return e;
    }
    l.agent?.destroy();
    this.live.delete(l.meta.id);
    this.failedCreates.set(l.meta.id, l.errorReason ?? e.message);
    // Bounded: the errors of old failed creates are not worth memory; the API has them in its rows anyway.
    if (this.failedCreates.size > MAX_FAILED_CREATES) this.failedCreates.delete(this.failedCreates.keys().next().value!);
    return e;
  }
}
