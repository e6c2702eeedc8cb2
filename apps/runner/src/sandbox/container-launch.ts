import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { heldFromToolbox, isEnvName, TOOLBOX_HELD_ENV } from '@shoal/contracts';
import { RunnerError } from '../errors.js';
import type { ImageRecord } from '../images/image-store.js';
import { clampedRlimits, sandboxSpec, type Rlimit } from '../runtime/spec.js';
import { mountIdmappedOverlay, stageDir, unmountStage } from '../storage/idmap.js';
import { isMounted } from '../storage/quota.js';
import { exec } from '../util/exec.js';
import { SandboxVolumes } from '../volumes/sandbox-volumes.js';
import type { SandboxCgroups } from './cgroups.js';
import type { SandboxServiceDeps } from './sandbox.service.js';
import type { SandboxMeta } from './sandbox.store.js';
import { toolboxVersion } from './toolbox-client.js';
import { launchMetrics } from '../metrics/launch-metrics.js';
import { RANGE_SIZE } from './uid-pool.js';
import { TOOLBOX_BUNDLE_ARGS } from '../toolbox/toolbox-entry.js';

/** The launcher works with a subset of the sandbox service's dependencies (documented there) plus its cgroups. */
export type ContainerLaunchDeps = Pick<
  SandboxServiceDeps,
  | 'dataDir'
  | 'uidBase'
  | 'idmapHelper'
  | 'toolboxDir'
  | 'toolboxArgs'
  | 'nodeRuntimeDir'
  | 'shoalBinDir'
  | 'unconfinedSnapshots'
  | 'backend'
  | 'images'
  | 'network'
  | 'pool'
  | 'store'
  | 'log'
  | 'toolboxTimeoutMs'
  | 'stopGraceMs'
  | 'volumes'
> & { cgroups: SandboxCgroups };

/** What a launch asks of the sandbox's owner between its steps. */
export interface LaunchHooks {
  /** Rewrites the egress policy sets once the sandbox's netns exists. */
  syncPolicies: () => Promise<void>;
  /** Throws when the launch must stop here (the runner is shutting down); the caller's failure path undoes it. */
  checkpoint: () => void;
  /** The container's init PID, as soon as the runtime reports it. */
  onPid: (pid: number) => void;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The one toolbox setting a sandbox's env (image or create) may carry; the daemon's other SHOAL_* are the runner's. */
const SANDBOX_SETTABLE = new Set(['SHOAL_TOOLBOX_SESSION_IDLE_SECONDS']);

/**
 * An image or a create must not choose the daemon's startup settings the runner leaves unset (a second listening
 * socket, an entrypoint, the held variables): each would change the daemon, not the user's programs.
 */
function sandboxMaySet(name: string): boolean {
  return !name.startsWith('SHOAL_') || SANDBOX_SETTABLE.has(name);
}

/**
 * Puts one sandbox's container on the host and takes it off again: netns, overlay (idmapped) on the sandbox's disk,
 * /etc files, OCI spec, the runtime, and the toolbox's inherited socket; release() undoes all of it but the files.
 */
export class ContainerLauncher {
  private rlimits: Rlimit[] = [];
  private readonly runDir: string;
  /** Netns deletions still in flight, by sandbox index: a restart of that sandbox must wait for its own. */
  private readonly teardowns = new Map<number, Promise<void>>();
  private readonly volumes: SandboxVolumes;
  /**
   * Indexes whose netns (veth on the bridge, address, route) is set up ahead and unused, and those being set up: a
   * create takes the lowest ready one (pickIndex) and skips the two `ip` runs on its path. Each is made fresh and used
   * by one sandbox; its teardown deletes it as any other. drain() deletes the unused ones.
   */
  private readonly spareNets = new Set<number>();
  private readonly makingNets = new Set<number>();
  /** Spares pickIndex handed to a create whose launch has not come yet. */
  private readonly takenNets = new Set<number>();
  private netRefill: Promise<void> = Promise.resolve();

  constructor(private readonly d: ContainerLaunchDeps) {
    this.runDir = join(d.dataDir, 'run');
    this.volumes = new SandboxVolumes(d.volumes);
  }

  async init(): Promise<void> {
    this.rlimits = await clampedRlimits();
    await mkdir(this.runDir, { recursive: true, mode: 0o700 });
  }

  socketPath(id: string): string {
    return join(this.runDir, `${id}.sock`);
  }

  /** Whether the sandbox's toolbox answers on its socket (a running container that is really ours). */
  async answers(id: string): Promise<boolean> {
    return (await toolboxVersion(this.socketPath(id))) !== undefined;
  }

  /**
   * Starts the container; the sandbox's disk must be prepared. Resolves once the container's process runs. Its daemon
   * is not started yet: the toolbox's socket is bound before the runtime starts and the container's first process
   * waits for a connection in it (toolbox-entry.ts), so a request sent at any time waits in the socket's backlog and
   * the daemon starts then. `boot()` connects (once; later calls return the same promise), which starts it if no
   * request did, and settles when it answers (rejecting if it exits first or the start timeout, counted from that
   * call, passes). Callers need not hold a user's create for the daemon's own start (about 50 ms of Node.js boot,
   * most of a start's CPU; README "The cold path").
   */
  async launch(meta: SandboxMeta, hooks: LaunchHooks): Promise<{ boot: (wanted?: () => boolean) => Promise<void> }> {
    const t0 = performance.now();
    const image = this.d.images.get(meta.snapshot);
    if (!image) throw new Error(`image ${meta.snapshot} is not present`);
    const dir = this.d.store.sandboxDir(meta.id);
    const bundle = join(dir, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    const etc = join(dir, 'etc');
    await mkdir(rootfs, { recursive: true });
    await mkdir(etc, { recursive: true });

    hooks.checkpoint();
    if (await this.d.backend.exists(meta.id)) await this.d.backend.delete(meta.id);
    // Network and filesystem setup are independent: run them side by side (each is a few process spawns).
    const spareNet = this.takenNets.delete(meta.index);
    const network = (this.teardowns.get(meta.index) ?? Promise.resolve())
      .then(() => (spareNet ? undefined : this.d.network.setup(meta.index)))
      .then(() => hooks.syncPolicies());
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
    const volumeBinds = filesystem.then(() => this.volumes.attach(meta.id, dir, uid, meta.volumes ?? []));
    const [netResult, fsResult] = await Promise.allSettled([network, volumeBinds]);
    if (netResult.status === 'rejected') throw netResult.reason;
    if (fsResult.status === 'rejected') throw fsResult.reason;

    const spec = sandboxSpec({
      id: meta.id,
      rootfs,
      args: [...(this.d.toolboxArgs ?? TOOLBOX_BUNDLE_ARGS)],
      env: this.processEnv(meta, image),
      netnsPath: this.d.network.nsPath(meta.index),
      sysfs: this.d.network.sysfsDir(meta.index),
      uidBase: uid,
      cgroupsPath: this.d.cgroups.pathFor(meta.id),
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
        // Last: a volume's mount path is resolved by the runtime inside the rootfs as it stands after the others.
        ...fsResult.value,
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
      hooks.checkpoint();
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
    hooks.checkpoint();
    const tRunning = performance.now();
    let ready: Promise<void> | undefined;
    const boot = (wanted: () => boolean = () => true): Promise<void> => {
      if (ready) return ready;
      const tBoot = performance.now();
      // A sandbox stopped or deleted meanwhile has no daemon to wait for: the wait ends at its next look.
      const checkpoint = () => {
        hooks.checkpoint();
        if (!wanted()) throw new RunnerError(409, `sandbox ${meta.id} is no longer running`);
      };
      ready = this.waitForToolbox(meta.id, sock, { ...hooks, checkpoint }).then(() => {
        const tReady = performance.now();
        launchMetrics.recordLaunch(meta.id, t0, tPrepared, tRunning, tBoot, tReady);
        this.d.log.info(
          `sandbox ${meta.id} started in ${(tRunning - t0).toFixed(0)} ms (network+mounts ${(tPrepared - t0).toFixed(0)}, ` +
            `runtime ${(tRunning - tPrepared).toFixed(0)}), toolbox answered ${(tReady - tBoot).toFixed(0)} ms after its boot was asked for ` +
            `(${(tBoot - tRunning).toFixed(0)} ms after the start)`,
        );
      });
      // The caller decides what a failure means (and may not look before it happens).
      ready.catch(() => undefined);
      return ready;
    };
    return { boot };
  }

  /**
   * Stops the container's processes (TERM first when `graceful`) and releases what the launch took: the runtime's
   * state, cgroups, mounts, the socket and (in the background; drain() waits) the netns. The writable layer stays.
   * `beforeNetworkTeardown` runs once nothing of the sandbox runs any more, before its netns goes.
   */
  async release(meta: SandboxMeta, graceful: boolean, beforeNetworkTeardown: () => Promise<void>): Promise<void> {
    const st = await this.d.backend.state(meta.id);
    if (st?.status === 'running' && graceful) {
      await this.d.backend.kill(meta.id, 'TERM');
      await waitGone(st.pid, this.d.stopGraceMs ?? 3000);
    }
    if (st) await this.d.backend.delete(meta.id);
    const strays = await this.d.cgroups.remove(meta.id);
    if (strays > 0) this.d.log.warn(`sandbox ${meta.id}: killed ${strays} process(es) the runtime no longer tracked`);
    const rootfs = join(this.d.store.sandboxDir(meta.id), 'bundle', 'rootfs');
    if (await isMounted(rootfs)) {
      const r = await exec('umount', [rootfs], { allowFailure: true });
      if (r.code !== 0) await exec('umount', ['-l', rootfs], { allowFailure: true });
    }
    await unmountStage(stageDir(this.d.store.sandboxDir(meta.id)));
    await this.volumes.release(this.d.store.sandboxDir(meta.id));
    await this.d.pool.unmount(meta.id);
    await unlink(this.socketPath(meta.id)).catch(() => undefined);
    await beforeNetworkTeardown();
    // A create that failed before its launch leaves the spare it was given: it goes with the teardown below.
    this.takenNets.delete(meta.index);
    // Deleting the netns (and the veth with it) costs tens of ms of kernel time; only drain() waits for it.
    const td = this.d.network.teardown(meta.index).finally(() => {
      if (this.teardowns.get(meta.index) === td) this.teardowns.delete(meta.index);
    });
    this.teardowns.set(meta.index, td);
  }

  /**
   * Resolves once the sandbox's netns is gone: the deletion its release started, or, when none is in flight, one made
   * here if a namespace is still there (a runner stopped before it finished one).
   */
  async networkGone(index: number): Promise<void> {
    const inFlight = this.teardowns.get(index);
    if (inFlight) return inFlight;
    await this.d.network.teardownLeftover(index);
  }

  /** Waits for the netns deletions still in flight, and deletes the spare ones. */
  async drain(): Promise<void> {
    await this.netRefill;
    const spares = [...this.spareNets, ...this.takenNets];
    this.spareNets.clear();
    this.takenNets.clear();
    for (const index of spares) await this.d.network.teardown(index);
    await Promise.all([...this.teardowns.values()]);
  }

  /**
   * The index (network address, netns name) for a new sandbox, given those live sandboxes hold: the lowest one with a
   * spare netns, else the lowest free one. Undefined when all `capacity` are taken.
   */
  pickIndex(used: ReadonlySet<number>, capacity: number): number | undefined {
    const spare = [...this.spareNets].filter((i) => !used.has(i)).sort((a, b) => a - b)[0];
    if (spare !== undefined) {
      // Out of the stock at once, so that the refill after this create's disk counts it as gone.
      this.spareNets.delete(spare);
      this.takenNets.add(spare);
      return spare;
    }
    for (let i = 1; i <= capacity; i++) if (!used.has(i) && !this.makingNets.has(i)) return i;
    return undefined;
  }

  /**
   * Sets up spare netns for the lowest free indexes (live sandboxes hold `used()`), one at a time through `run`, until
   * `count` are ready or `wanted()` stops holding. Indexes whose netns is still being deleted are skipped.
   */
  refillNets(count: number, used: () => ReadonlySet<number>, capacity: number, run: (work: () => Promise<void>) => Promise<void>, wanted: () => boolean): Promise<void> {
    const next = this.netRefill.then(async () => {
      while (wanted() && this.spareNets.size < count) {
        const taken = used();
        let index: number | undefined;
        for (let i = 1; i <= capacity && index === undefined; i++) {
          if (!taken.has(i) && !this.spareNets.has(i) && !this.takenNets.has(i) && !this.makingNets.has(i) && !this.teardowns.has(i)) index = i;
        }
        if (index === undefined) return;
        const i = index;
        this.makingNets.add(i);
        try {
          await run(() => this.d.network.setup(i));
          // pickIndex never hands out an index being made, so the namespace is still nobody's.
          if (wanted()) this.spareNets.add(i);
          else await this.d.network.teardown(i);
        } finally {
          this.makingNets.delete(i);
        }
      }
    });
    this.netRefill = next.catch((err: Error) => this.d.log.warn(`spare network namespace not made: ${err.message}`));
    return this.netRefill;
  }

  /** Host uid/gid of the sandbox's root. */
  private uidOf(meta: SandboxMeta): number {
    return meta.uidBase ?? this.d.uidBase;
  }

  private processEnv(meta: SandboxMeta, image: ImageRecord): string[] {
    const env = new Map<string, string>();
    env.set('PATH', DEFAULT_PATH);
    for (const kv of image.env) {
      const i = kv.indexOf('=');
      if (i > 0 && sandboxMaySet(kv.slice(0, i))) env.set(kv.slice(0, i), kv.slice(i + 1));
    }
    env.set('HOME', '/root');
    if (!env.has('LANG')) env.set('LANG', 'C.UTF-8');
    for (const [k, v] of Object.entries(meta.env)) if (isEnvName(k) && sandboxMaySet(k)) env.set(k, v);
    const held: Record<string, string> = {};
    for (const [k, v] of env) {
      if (!heldFromToolbox(k)) continue;
      held[k] = v;
      env.delete(k);
    }
    if (Object.keys(held).length > 0) env.set(TOOLBOX_HELD_ENV, JSON.stringify(held));
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

  private async waitForToolbox(id: string, sock: string, hooks: LaunchHooks): Promise<void> {
    const deadline = Date.now() + (this.d.toolboxTimeoutMs ?? 30_000);
    for (let i = 0; ; i++) {
      hooks.checkpoint();
      if ((await toolboxVersion(sock, undefined, 1000)) !== undefined) return;
      if (i % 20 === 19) {
        const st = await this.d.backend.state(id);
        if (!st || st.status !== 'running') {
          const tail = await readFile(join(this.d.store.sandboxDir(id), 'toolbox.log'), 'utf8').catch(() => '');
          throw new RunnerError(500, `toolbox exited before answering: ${tail.slice(-800)}`);
        }
        hooks.onPid(st.pid);
      }
      if (Date.now() > deadline) throw new RunnerError(504, 'toolbox did not answer within the start timeout');
      await sleep(i < 40 ? 10 : 50);
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
