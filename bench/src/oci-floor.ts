/*
 * The floor for creating a sandbox and running `node -v` in it: the work the runner cannot avoid, done with the
 * runner's own building blocks (imported, not copied) and nothing else of Shoal (no API, reconciler, HTTP hop, nft
 * policy or toolbox):
 *  - the sandbox's own sized ext4 image, loop-mounted (DiskPool), and an overlay over an idmapped view of the same
 *    unpacked image into a host uid range of its own (shoal-idmap), as the runner mounts it;
 *  - a network namespace with a veth on a bridge, addressed and routed (Network.setup), in parallel with the mounts,
 *    as the runner does;
 *  - config.json from the runner's sandboxSpec with the runner's binds (toolbox, node runtime, /.shoal/bin, /etc
 *    files), user namespace, cgroup limits and seccomp profile;
 *  - `<runtime> run --detach` with the same OCI runtime binary: returns once the container's process runs.
 * `created` stops there (the row it is divided into is SDK create() -> started); `interactive` adds
 * `<runtime> exec <id> node -v` (the row: create() + executeCommand('node -v')). Teardown (kill, delete, unmounts,
 * netns removal, files) is never timed: Shoal's rows do not include it either.
 *
 * The floor's bridge has no address, so the host gets no route into the floor's subnet: no traffic leaves a floor
 * namespace, and no other runner's subnet on this host can be shadowed.
 */
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../../apps/runner/src/images/image-store.js';
import { Network } from '../../apps/runner/src/network/network.js';
import { chooseRuntime } from '../../apps/runner/src/runtime/detect.js';
import { clampedRlimits, sandboxSpec, type Rlimit } from '../../apps/runner/src/runtime/spec.js';
import { findIdmapHelper, mountIdmappedOverlay, stageDir, unmountStage } from '../../apps/runner/src/storage/idmap.js';
import { DiskPool, isMounted } from '../../apps/runner/src/storage/quota.js';
import { exec } from '../../apps/runner/src/util/exec.js';
import { RANGE_SIZE } from '../../apps/runner/src/sandbox/uid-pool.js';
import { ensureTraversable } from '@shoal/platform';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface FloorOptions {
  /** The platform runner's data dir: the unpacked image, node runtime and /.shoal/bin are read from it. */
  runnerDataDir: string;
  toolboxDir: string;
  image: string;
  /** Where the floor keeps its bundles, disk images and runtime state (removed by close()). */
  scratchDir: string;
  /** The range the image is unpacked into on disk (SHOAL_RUNNER_UID_BASE). */
  imageUidBase: number;
  /** A host uid range of the floor's own, outside every runner's pool. */
  sandboxUidBase: number;
  bridge: string;
  /** Only inside the floor's namespaces (the bridge has no address). */
  subnet: { base: string; prefix: number };
  cpu: number;
  memoryGiB: number;
  diskGiB: number;
}

export interface FloorSample {
  /** Mounts + netns + spec + `run --detach` returned (the container's process runs). */
  createdMs: number;
  /** The above + `exec node -v` returned its output. */
  interactiveMs: number;
  teardown: () => Promise<void>;
}

export async function ociRuntimeName(): Promise<string> {
  return (await chooseRuntime('auto', false)).binary;
}

export class OciFloor {
  private runtime = '';
  private helper = '';
  private lower = '';
  private rlimits: Rlimit[] = [];
  private readonly pool: DiskPool;
  private readonly network: Network;
  private readonly stateRoot: string;
  private readonly cgroupParent: string;

  constructor(private readonly o: FloorOptions) {
    this.pool = new DiskPool(join(o.scratchDir, 'disk'));
    this.network = new Network(o.bridge, o.subnet);
    this.stateRoot = join(o.scratchDir, 'oci');
    this.cgroupParent = `shoal_floor_${o.bridge}`;
  }

  async init(): Promise<void> {
    this.runtime = await ociRuntimeName();
    this.helper = await findIdmapHelper();
    this.rlimits = await clampedRlimits();
    this.lower = new ImageStore({ dataDir: this.o.runnerDataDir, uidBase: this.o.imageUidBase, defaultImage: this.o.image, imageCacheDir: undefined, log: () => undefined }).lowerDir(
      ImageStore.keyOf(this.o.image),
    );
    await mkdir(this.stateRoot, { recursive: true, mode: 0o700 });
    await mkdir(join(this.o.scratchDir, 'sb'), { recursive: true });
    // The runtime reaches the bundles as the user namespace's root (an unprivileged host uid).
    await ensureTraversable(join(this.o.scratchDir, 'sb'));
    await this.pool.init('auto');
    await exec('ip', ['link', 'del', this.o.bridge], { allowFailure: true });
    await exec('ip', ['-batch', '-'], { input: `link add ${this.o.bridge} type bridge\nlink set ${this.o.bridge} up\n` });
  }

  /** Whether the floor pays for a sized disk image like the runner (false when the host has no loop devices). */
  get diskEnforced(): boolean {
    return this.pool.enforced;
  }

  /**
   * One sandbox, the way the runner's startContainer builds it; `index` must be unique among samples alive at once.
   * `withExec` false: stop at `run --detach` (the create-only row measures nothing more).
   */
  async sample(index: number, withExec = true): Promise<FloorSample> {
    const id = `floor-${process.pid}-${index}`;
    const dir = join(this.o.scratchDir, 'sb', id);
    const bundle = join(dir, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    const etc = join(dir, 'etc');
    const uid = this.o.sandboxUidBase;
    let started = false;
    const teardown = async () => {
      if (started) await exec(this.runtime, ['--root', this.stateRoot, 'delete', '--force', id], { allowFailure: true });
      for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) await rmdir(join('/sys/fs/cgroup', c, this.cgroupParent, id)).catch(() => undefined);
      if (await isMounted(rootfs)) await exec('umount', [rootfs], { allowFailure: true });
      await unmountStage(stageDir(dir));
      await this.pool.remove(id);
      await this.network.teardown(index);
      await rm(dir, { recursive: true, force: true });
    };

    const t0 = performance.now();
    try {
      await mkdir(rootfs, { recursive: true });
      await mkdir(etc, { recursive: true });
      const network = this.network.setup(index);
      const filesystem = (async () => {
        for (const d of [dir, bundle, etc]) {
          await chown(d, 0, uid);
          await chmod(d, 0o750);
        }
        await this.pool.prepare(id, this.o.diskGiB);
        await this.pool.mount(id);
        const upper = this.pool.dir(id);
        await chmod(upper, 0o700);
        await mkdir(join(upper, 'upper'), { recursive: true });
        await mkdir(join(upper, 'work'), { recursive: true });
        await chown(join(upper, 'upper'), uid, uid);
        await mountIdmappedOverlay(this.helper, {
          lower: this.lower,
          upper: join(upper, 'upper'),
          work: join(upper, 'work'),
          stage: stageDir(dir),
          target: rootfs,
          fromBase: this.o.imageUidBase,
          toBase: uid,
          size: RANGE_SIZE,
        });
        await writeFile(join(etc, 'resolv.conf'), `nameserver ${this.network.gateway}\n`);
        await writeFile(join(etc, 'hostname'), `${id}\n`);
        await writeFile(join(etc, 'hosts'), `127.0.0.1\tlocalhost\n${this.network.ipFor(index)}\t${id}\n`);
      })();
      const settled = await Promise.allSettled([network, filesystem]);
      for (const s of settled) if (s.status === 'rejected') throw s.reason;
      const spec = sandboxSpec({
        id,
        rootfs,
        // tini as the runner starts it, then a process that stays (the runner's is the toolbox).
        args: ['/.shoal/bin/tini', '-s', '-g', '--', 'sleep', 'infinity'],
        env: [`PATH=${PATH}`, 'HOME=/root', 'LANG=C.UTF-8'],
        netnsPath: this.network.nsPath(index),
        sysfs: this.network.sysfsDir(index),
        uidBase: uid,
        cgroupsPath: `/${this.cgroupParent}/${id}`,
        cpu: this.o.cpu,
        memoryGiB: this.o.memoryGiB,
        pidsLimit: Math.min(8192, 1024 * this.o.cpu),
        rlimits: this.rlimits,
        seccomp: 'default',
        binds: [
          { source: this.o.toolboxDir, destination: '/.shoal/toolbox', readonly: true },
          { source: join(this.o.runnerDataDir, 'node-runtime'), destination: '/.shoal/node', readonly: true },
          { source: join(this.o.runnerDataDir, 'shoal-bin'), destination: '/.shoal/bin', readonly: true },
          ...['resolv.conf', 'hostname', 'hosts'].map((f) => ({ source: join(etc, f), destination: `/etc/${f}`, readonly: true })),
        ],
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      started = true;
      // The container's output goes to a file, as the runner's does: a pipe would stay open as long as it runs.
      const logFd = openSync(join(dir, 'container.log'), 'w', 0o600);
      try {
        await exec(this.runtime, ['--root', this.stateRoot, 'run', '--detach', '--bundle', bundle, id], { outputFd: logFd });
      } catch (err) {
        const tail = await readFile(join(dir, 'container.log'), 'utf8').catch(() => '');
        throw new Error(`${(err as Error).message} ${tail.slice(-500)}`.trim());
      } finally {
        closeSync(logFd);
      }
      const createdMs = performance.now() - t0;
      let interactiveMs = NaN;
      if (withExec) {
        const r = await exec(this.runtime, ['--root', this.stateRoot, 'exec', '--env', `PATH=${PATH}`, id, 'node', '-v']);
        if (!/^v\d+\./.test(r.stdout.trim())) throw new Error(`floor: node -v printed ${JSON.stringify(r.stdout)}`);
        interactiveMs = performance.now() - t0;
      }
      return { createdMs, interactiveMs, teardown };
    } catch (err) {
      await teardown().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await exec('ip', ['link', 'del', this.o.bridge], { allowFailure: true });
    for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) await rmdir(join('/sys/fs/cgroup', c, this.cgroupParent)).catch(() => undefined);
  }
}
