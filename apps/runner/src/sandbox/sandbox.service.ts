import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { CreateRunnerSandbox, NetworkSettings, ResizeSandbox, RunnerSandboxInfo, RunnerSandboxState } from '@shoal/contracts';
import { Errors, RunnerError } from '../errors.js';
import type { ImageRecord, ImageStore } from '../images/image-store.js';
import { NetworkPolicyError, parseAllowList, type Network, type SandboxNet } from '../network/network.js';
import type { RuntimeBackend } from '../runtime/backend.js';
import { clampedRlimits, sandboxSpec, type Rlimit } from '../runtime/spec.js';
import { mountIdmappedOverlay, stageDir, unmountStage } from '../storage/idmap.js';
import { isMounted, type DiskPool } from '../storage/quota.js';
import { exec, ExecError } from '../util/exec.js';
import type { ApiReporter } from './api-reporter.js';
import type { SandboxMeta, SandboxStore } from './sandbox.store.js';
import { toolboxVersion } from './toolbox-client.js';
import { RANGE_SIZE, type UidPool } from './uid-pool.js';

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
  log: { info: (msg: string) => void; warn: (msg: string) => void };
  toolboxTimeoutMs?: number;
  stopGraceMs?: number;
}

interface Live {
  meta: SandboxMeta;
  state: RunnerSandboxState;
  errorReason?: string;
  pid?: number;
  agent?: Agent;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/** ext4's largest file is 16 TiB; the sparse image must fit. */
const MAX_DISK_GIB = 8192;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TOOLBOX_ARGS = ['/.shoal/bin/tini', '-s', '-g', '--', '/.shoal/node/bin/node', '/.shoal/toolbox/toolbox.cjs'];

/** Owns every sandbox's lifecycle; all actions on one sandbox are serialized by a per-id lock. */
export class SandboxService {
  private readonly live = new Map<string, Live>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private rlimits: Rlimit[] = [];
  private readonly runDir: string;
  private syncTimer?: NodeJS.Timeout;
  private policySync: Promise<void> = Promise.resolve();
  /** Netns deletions still in flight, by sandbox index: a restart of that sandbox must wait for its own. */
  private readonly teardowns = new Map<number, Promise<void>>();
  private closing: 'stop' | 'keep' | undefined;

  constructor(private readonly d: SandboxServiceDeps) {
    this.runDir = join(d.dataDir, 'run');
  }

  /** Loads persisted sandboxes and re-adopts the ones whose container still runs. */
  async init(): Promise<void> {
    this.rlimits = await clampedRlimits();
    await mkdir(this.runDir, { recursive: true, mode: 0o700 });
    const metas = await this.d.store.init();
    // Every range a sandbox on disk holds is taken again before anything is allocated, destroyed-but-not-removed ones too (their files still belong to it).
    for (const meta of metas) {
      if (meta.uidBase !== undefined && !this.d.uids.adopt(meta.uidBase)) {
        this.d.log.warn(`sandbox ${meta.id} shares host uid range ${meta.uidBase} with another sandbox (corrupt meta?)`);
      }
    }
    // The table is rebuilt before recovery so cleanup of dead sandboxes can already sync policies.
    await this.d.network.init([]);
    for (const meta of metas) {
      const st = await this.d.backend.state(meta.id);
      const live: Live = { meta, state: 'stopped' };
      this.live.set(meta.id, live);
      if (meta.desired === 'destroyed') {
        // A destroy interrupted by a crash is finished here: no process, mount or netns may survive it.
        await this.cleanupRuntime(meta, false);
        live.state = 'destroyed';
        continue;
      }
      if (st?.status === 'running' && (await toolboxVersion(this.socketPath(meta.id))) !== undefined) {
        live.state = 'started';
        live.pid = st.pid;
        this.d.log.info(`re-adopted running sandbox ${meta.id}`);
        continue;
      }
      await this.cleanupRuntime(meta, false);
      live.state = 'stopped';
    }
    // A crash between `crun run` and saving the sandbox's metadata leaves a container nobody knows: remove it.
    for (const id of await this.d.backend.list().catch(() => [] as string[])) {
      if (this.live.has(id)) continue;
      this.d.log.warn(`removing unknown container ${id} left by a previous run`);
      await this.d.backend.kill(id, 'KILL').catch(() => undefined);
      await this.d.backend.delete(id).catch(() => undefined);
    }
    await this.sweepCgroups();
    await this.syncPolicies();
  }

  /**
   * Removes cgroup directories of sandboxes that are not running. The runtime deletes them itself, but not when it
   * was killed halfway or the kernel still held the group busy; an empty group left behind is only rmdir'd, so a
   * group that still has processes stays (rmdir fails) and nothing running is disturbed. Runs before the API serves.
   */
  private async sweepCgroups(): Promise<void> {
    const keep = new Set([...this.live.values()].filter((l) => l.state === 'started').map((l) => l.meta.id));
    for (const dir of await this.cgroupParents()) {
      const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of children) {
        if (e.isDirectory() && !keep.has(e.name)) await rmdir(join(dir, e.name)).catch(() => undefined);
      }
    }
  }

  /** With nothing running, the runner's parent cgroups go too (the next start recreates them). */
  async removeCgroupParents(): Promise<void> {
    await this.sweepCgroups();
    for (const dir of await this.cgroupParents()) await rmdir(dir).catch(() => undefined);
  }

  private async cgroupParents(): Promise<string[]> {
    const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
    return controllers.map((c) => join('/sys/fs/cgroup', c, `shoal_${this.d.bridgeName}`));
  }

  /** Removes one sandbox's cgroups after its container is gone; a group the kernel still reports busy is retried briefly. */
  private async removeCgroups(id: string): Promise<void> {
    let left = (await this.cgroupParents()).map((p) => join(p, id));
    for (let round = 0; round < 20 && left.length > 0; round++) {
      if (round > 0) await sleep(25);
      const busy: string[] = [];
      for (const dir of left) {
        const err = await rmdir(dir).then(
          () => undefined,
          (e: NodeJS.ErrnoException) => e,
        );
        if (err && err.code !== 'ENOENT' && err.code !== 'ENOTDIR') busy.push(dir);
      }
      left = busy;
    }
  }


  /** Notices containers that died on their own and, when an API is configured, repairs its view of our sandboxes. */
  startStateSync(intervalMs: number): void {
    const tick = async () => {
      await this.checkAlive();
      if (!this.d.reporter.enabled) return;
      const remote = await this.d.reporter.sandboxesInStates(['started']);
      for (const r of remote ?? []) {
        const l = this.live.get(r.id);
        const local = l ? l.state : 'destroyed';
        if (local !== r.state && !['creating', 'starting', 'stopping', 'destroying', 'pulling_snapshot', 'resizing'].includes(local)) {
          await this.d.reporter.reportState(r.id, local);
        }
      }
    };
    this.syncTimer = setInterval(() => void tick().catch(() => undefined), intervalMs);
    this.syncTimer.unref();
  }

  /** Tells the API where every sandbox stands, e.g. after this runner was down. */
  reportAll(): void {
    for (const l of this.live.values()) void this.d.reporter.reportState(l.meta.id, l.state);
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
    if (this.syncTimer) clearInterval(this.syncTimer);
    for (const l of this.live.values()) l.agent?.destroy();
    await Promise.all([...this.teardowns.values()]);
  }

  // ---- queries -------------------------------------------------------------------------------------------

  info(id: string): RunnerSandboxInfo {
    const l = this.live.get(id);
    if (!l) throw Errors.sandboxNotFound(id);
    return { state: l.state, backupState: 'NONE', ...(l.errorReason ? { errorReason: l.errorReason } : {}) };
  }

  socketPath(id: string): string {
    return join(this.runDir, `${id}.sock`);
  }

  /** Where the proxy sends traffic for a started sandbox. */
  target(id: string): { socketPath: string; ip: string; agent: Agent } {
    const l = this.live.get(id);
    if (!l) throw Errors.sandboxNotFound(id);
    if (l.state !== 'started') throw Errors.notRunning(id);
    l.agent ??= new Agent({ keepAlive: true, maxSockets: 256 });
    return { socketPath: this.socketPath(id), ip: this.d.network.ipFor(l.meta.index), agent: l.agent };
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

  create(dto: CreateRunnerSandbox): Promise<string> {
    if (!ID_RE.test(dto.id)) throw Errors.badRequest('Sandbox id must be 1-63 characters of [A-Za-z0-9_.-]');
    if (!USER_RE.test(dto.osUser)) throw Errors.badRequest(`Invalid osUser: ${dto.osUser}`);
    if (dto.storageQuota > MAX_DISK_GIB) throw Errors.badRequest(`storageQuota must be at most ${MAX_DISK_GIB} GiB`);
    this.validatePolicy(dto);
    this.refuseWhileClosing();
    return this.locked(dto.id, async () => {
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
        index: this.allocateIndex(),
        uidBase: this.allocateUids(),
        desired: 'started',
        createdAt: new Date().toISOString(),
      };
      const live: Live = { meta, state: 'pulling_snapshot' };
      // From here on removeLocked gives the range back.
      this.live.set(meta.id, live);
      this.setState(live, 'pulling_snapshot');
      try {
        await this.pullForSandbox(dto.snapshot, dto.registry);
        this.giveUpIfStopping();
        this.setState(live, 'creating');
        await this.d.pool.prepare(meta.id, meta.diskGiB);
        await this.d.store.save(meta);
        await this.startContainer(live);
        return meta.id;
      } catch (err) {
        throw await this.fail(live, err);
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

  private mustGet(id: string): Live {
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

  private setState(l: Live, state: RunnerSandboxState): void {
    l.state = state;
    if (state !== 'error') l.errorReason = undefined;
    void this.d.reporter.reportState(l.meta.id, state);
  }

  /** Puts the sandbox in `error` with a one-line reason and returns the error to surface to the caller. */
  private async fail(l: Live, err: unknown): Promise<RunnerError> {
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
    const used = new Set([...this.live.values()].map((l) => l.meta.index));
    for (let i = 1; i <= this.d.network.capacity; i++) if (!used.has(i)) return i;
    throw Errors.capacity();
  }

  private allocateUids(): number {
    const base = this.d.uids.allocate();
    if (base === undefined) throw new RunnerError(503, `Runner has no free host uid range (all ${this.d.uids.ranges} in use)`);
    return base;
  }

  /** Host uid/gid of the sandbox's root. */
  private uidOf(meta: SandboxMeta): number {
    return meta.uidBase ?? this.d.uidBase;
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

  private async startLocked(l: Live): Promise<void> {
    this.setState(l, 'starting');
    l.meta.desired = 'started';
    try {
      await this.pullForSandbox(l.meta.snapshot);
      if (!(await this.d.pool.prepared(l.meta.id))) await this.d.pool.prepare(l.meta.id, l.meta.diskGiB);
      await this.d.store.save(l.meta);
      await this.startContainer(l);
    } catch (err) {
      throw await this.fail(l, err);
    }
  }

  private async startContainer(l: Live): Promise<void> {
    const t0 = performance.now();
    const meta = l.meta;
    const image = this.d.images.get(meta.snapshot);
    if (!image) throw new Error(`image ${meta.snapshot} is not present`);
    const dir = this.d.store.sandboxDir(meta.id);
    const bundle = join(dir, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    const etc = join(dir, 'etc');
    await mkdir(rootfs, { recursive: true });
    await mkdir(etc, { recursive: true });

    this.giveUpIfStopping();
    if (await this.d.backend.exists(meta.id)) await this.d.backend.delete(meta.id);
    // Network and filesystem setup are independent: run them side by side (each is a few process spawns).
    const network = (this.teardowns.get(meta.index) ?? Promise.resolve())
      .then(() => this.d.network.setup(meta.index))
      .then(() => this.syncPolicies());
    const uid = this.uidOf(meta);
    const filesystem = (async () => {
      // The runtime reaches the rootfs and the /etc files from inside the user namespace, as the sandbox's root
      // (host gid `uid`); no other sandbox's ids may walk in (the overlay's root is the sandbox root's, 0755).
      for (const d of [bundle, etc]) {
        await chown(d, 0, uid);
        await chmod(d, 0o750);
      }
      if (!(await isMounted(rootfs))) {
        await this.d.pool.mount(meta.id);
        const upper = this.d.pool.dir(meta.id);
        // Only host root walks the writable layer: overlayfs reaches it with the mounter's credentials.
        await chmod(upper, 0o700);
        await mkdir(join(upper, 'upper'), { recursive: true });
        await mkdir(join(upper, 'work'), { recursive: true });
        // The overlay's root directory takes the upper dir's owner: make it the sandbox's root.
        await chown(join(upper, 'upper'), uid, uid);
        const lower = this.d.images.lowerDir(image.key);
        if (meta.uidBase === undefined) {
          await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(upper, 'upper')},workdir=${join(upper, 'work')}`, rootfs]);
        } else {
          // The image stays one shared copy on disk (owned by the legacy range); the sandbox sees it through an
          // idmapped mount as owned by its own range.
          await mountIdmappedOverlay(this.d.idmapHelper, {
            lower,
            upper: join(upper, 'upper'),
            work: join(upper, 'work'),
            stage: stageDir(dir),
            target: rootfs,
            fromBase: this.d.uidBase,
            toBase: meta.uidBase,
            size: RANGE_SIZE,
          });
        }
      }
      const ip = this.d.network.ipFor(meta.index);
      await writeFile(join(etc, 'resolv.conf'), `nameserver ${this.d.network.gateway}\noptions ndots:0\n`);
      await writeFile(join(etc, 'hostname'), `${meta.id}\n`);
      await writeFile(join(etc, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ip}\t${meta.id}\n`);
    })();
    const [netResult, fsResult] = await Promise.allSettled([network, filesystem]);
    if (netResult.status === 'rejected') throw netResult.reason;
    if (fsResult.status === 'rejected') throw fsResult.reason;

    const spec = sandboxSpec({
      id: meta.id,
      rootfs,
      args: TOOLBOX_ARGS,
      env: this.processEnv(meta, image),
      netnsPath: this.d.network.nsPath(meta.index),
      uidBase: uid,
      cgroupsPath: `/shoal_${this.d.bridgeName}/${meta.id}`,
      cpu: meta.cpu,
      memoryGiB: meta.memoryGiB,
      pidsLimit: Math.min(8192, 1024 * meta.cpu),
      rlimits: this.rlimits,
      seccomp: this.d.unconfinedSnapshots?.has(meta.snapshot) ? 'relaxed' : 'default',
      binds: [
        { source: this.d.toolboxDir, destination: '/.shoal/toolbox', readonly: true },
        { source: this.d.nodeRuntimeDir, destination: '/.shoal/node', readonly: true },
        { source: this.d.shoalBinDir, destination: '/.shoal/bin', readonly: true },
        { source: join(etc, 'resolv.conf'), destination: '/etc/resolv.conf', readonly: true },
        { source: join(etc, 'hostname'), destination: '/etc/hostname', readonly: true },
        { source: join(etc, 'hosts'), destination: '/etc/hosts', readonly: true },
      ],
    });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));

    // The toolbox's listening socket is created here, on the host, in a root-only directory, and inherited as
    // fd 3. It is bound under a temporary name and renamed after the runtime has forked, because closing our
    // copy of a Node pipe server unlinks the path it was bound to.
    const tPrepared = performance.now();
    const sock = this.socketPath(meta.id);
    const tmpSock = `${sock}.${process.pid}.tmp`;
    await unlink(sock).catch(() => undefined);
    await unlink(tmpSock).catch(() => undefined);
    const server = await listenUnix(tmpSock);
    const logFd = openSync(join(dir, 'toolbox.log'), 'w', 0o600);
    try {
      this.giveUpIfStopping();
      const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
      await this.d.backend.run(meta.id, bundle, { listenFd: fd, logFd });
      await rename(tmpSock, sock);
    } catch (err) {
      const tail = await readFile(join(dir, 'toolbox.log'), 'utf8').catch(() => '');
      throw new RunnerError(500, `${(err as Error).message.split('\n')[0]} ${tail.slice(-500)}`.trim());
    } finally {
      closeSync(logFd);
      await new Promise<void>((r) => server.close(() => r()));
      await unlink(tmpSock).catch(() => undefined);
    }
    // The container runs: giving up now still goes through fail(), which removes it.
    this.giveUpIfStopping();
    const tRunning = performance.now();
    await this.waitForToolbox(l, sock);
    const tReady = performance.now();
    this.d.log.info(
      `sandbox ${meta.id} started in ${(tReady - t0).toFixed(0)} ms (network+mounts ${(tPrepared - t0).toFixed(0)}, ` +
        `runtime ${(tRunning - tPrepared).toFixed(0)}, toolbox ${(tReady - tRunning).toFixed(0)})`,
    );
    l.agent?.destroy();
    l.agent = undefined;
    this.setState(l, 'started');
  }

  private processEnv(meta: SandboxMeta, image: ImageRecord): string[] {
    const env = new Map<string, string>();
    env.set('PATH', DEFAULT_PATH);
    for (const kv of image.env) {
      const i = kv.indexOf('=');
      if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
    }
    env.set('HOME', '/root');
    if (!env.has('LANG')) env.set('LANG', 'C.UTF-8');
    for (const [k, v] of Object.entries(meta.env)) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) env.set(k, v);
    // The toolbox listens only on this inherited socket: nothing answers for it on the sandbox's address.
    env.set('SHOAL_TOOLBOX_LISTEN_FD', '3');
    env.set('SHOAL_EXEC_HELPER', '/.shoal/bin/shoal-exec');
    env.set('SHOAL_SANDBOX_USER', meta.osUser);
    env.set('SHOAL_WORKDIR', image.workdir);
    if (meta.entrypoint.length) env.set('SHOAL_ENTRYPOINT', JSON.stringify(meta.entrypoint));
    env.set('DAYTONA_SANDBOX_ID', meta.id);
    env.set('DAYTONA_SANDBOX_SNAPSHOT', meta.snapshot);
    env.set('DAYTONA_SANDBOX_USER', meta.osUser);
    return [...env].map(([k, v]) => `${k}=${v}`);
  }

  private async waitForToolbox(l: Live, sock: string): Promise<void> {
    const deadline = Date.now() + (this.d.toolboxTimeoutMs ?? 30_000);
    for (let i = 0; ; i++) {
      this.giveUpIfStopping();
      if ((await toolboxVersion(sock, undefined, 1000)) !== undefined) return;
      if (i % 20 === 19) {
        const st = await this.d.backend.state(l.meta.id);
        if (!st || st.status !== 'running') {
          const tail = await readFile(join(this.d.store.sandboxDir(l.meta.id), 'toolbox.log'), 'utf8').catch(() => '');
          throw new RunnerError(500, `toolbox exited before answering: ${tail.slice(-800)}`);
        }
        l.pid = st.pid;
      }
      if (Date.now() > deadline) throw new RunnerError(504, 'toolbox did not answer within the start timeout');
      await sleep(i < 40 ? 10 : 50);
    }
  }

  /** Stops processes and releases runtime resources; the writable layer stays. */
  private async cleanupRuntime(meta: SandboxMeta, graceful: boolean): Promise<void> {
    const st = await this.d.backend.state(meta.id);
    if (st?.status === 'running' && graceful) {
      await this.d.backend.kill(meta.id, 'TERM');
      await waitGone(st.pid, this.d.stopGraceMs ?? 3000);
    }
    if (st) await this.d.backend.delete(meta.id);
    await this.removeCgroups(meta.id);
    const rootfs = join(this.d.store.sandboxDir(meta.id), 'bundle', 'rootfs');
    if (await isMounted(rootfs)) {
      const r = await exec('umount', [rootfs], { allowFailure: true });
      if (r.code !== 0) await exec('umount', ['-l', rootfs], { allowFailure: true });
    }
    await unmountStage(stageDir(this.d.store.sandboxDir(meta.id)));
    await this.d.pool.unmount(meta.id);
    await unlink(this.socketPath(meta.id)).catch(() => undefined);
    const l = this.live.get(meta.id);
    if (l && l.state !== 'destroyed') l.state = 'stopping';
    // Stopping everything on exit removes the whole table afterwards: one nft run per sandbox, serialized, would only
    // make the shutdown slower.
    if (this.closing !== 'stop') await this.syncPolicies();
    // Deleting the netns (and the veth with it) costs tens of ms of kernel time; only close() waits for it.
    const td = this.d.network.teardown(meta.index).finally(() => {
      if (this.teardowns.get(meta.index) === td) this.teardowns.delete(meta.index);
    });
    this.teardowns.set(meta.index, td);
  }

  private async removeLocked(l: Live): Promise<void> {
    const meta = l.meta;
    if (l.state !== 'destroyed') {
      meta.desired = 'destroyed';
      await this.cleanupRuntime(meta, false);
    }
    await this.d.network.teardown(meta.index);
    await this.d.pool.remove(meta.id);
    await rm(this.d.store.sandboxDir(meta.id), { recursive: true, force: true });
    // Only once no file of the sandbox is left may another sandbox get its ids.
    if (meta.uidBase !== undefined) this.d.uids.release(meta.uidBase);
    l.agent?.destroy();
    this.live.delete(meta.id);
    void this.d.reporter.reportState(meta.id, 'destroyed');
  }

  /** A started sandbox whose container died (OOM of the toolbox, host kill) is reported stopped. */
  private async checkAlive(): Promise<void> {
    for (const l of this.live.values()) {
      if (l.state !== 'started') continue;
      const st = await this.d.backend.state(l.meta.id);
      if (st?.status === 'running') continue;
      await this.locked(l.meta.id, async () => {
        if (l.state !== 'started') return;
        await this.cleanupRuntime(l.meta, false);
        this.setState(l, 'stopped');
      });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}


async function waitGone(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (!stat || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return;
    await sleep(20);
  }
}

function listenUnix(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ path, backlog: 511 }, () => resolve(s));
  });
}
