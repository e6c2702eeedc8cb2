import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { exec } from '../util/exec.js';

/**
 * Per-sandbox disk limits: each sandbox's writable layer (overlay upper + work) lives on its own ext4
 * filesystem in a sparse file of exactly `storageQuota` GiB, loop-mounted while the sandbox runs. Writing past it
 * fails with ENOSPC. (XFS/ext4 project quotas would be cheaper, but this host's kernel is built without
 * CONFIG_QUOTA, so a sized filesystem is the mechanism that works everywhere loop devices do.)
 * Without loop devices the layers are plain directories and disk is not limited; the runner says so at start.
 */
/** Dirty page cache one sandbox may hold for its disk before its own writes wait for the flush. */
const DIRTY_BYTES_PER_SANDBOX = 64 * 1024 * 1024;

/** Spare filesystems kept ready per disk size, and how many sizes are kept (the most recently asked for). */
const SPARES_PER_SIZE = 2;
const SPARE_SIZES = 3;
const SPARE_PREFIX = '.spare-';

/** A spare: its image file and where it is mounted meanwhile. */
interface Spare {
  image: string;
  mountpoint: string;
}

export class DiskPool {
  readonly path: string;
  enforced = false;
  reason = '';
  /**
   * Empty filesystems made and mounted ahead, by size in GiB (the most recently asked-for size last). A create takes
   * one with a bind mount instead of mkfs.ext4, the loop mount and the loop device's direct-I/O switch on its path
   * (about 15 + 17 + 20-29 ms measured here). Each is made fresh by this runner and handed out once, so no sandbox
   * ever gets a filesystem another one used. Unmounted by close(); init() removes what a killed runner left.
   */
  private readonly spares = new Map<number, Spare[]>();
  private spareSeq = 0;
  /**
   * Staging mounts of spares already bound into a sandbox's directory. Unmounting one is a process spawn (about 4 ms
   * here), so it waits for the idle lane instead of delaying the create; it holds nothing but the same loop device.
   */
  private readonly boundStaging = new Map<string, string>();
  private refilling: Promise<void> = Promise.resolve();

  constructor(
    dataDir: string,
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.path = join(dataDir, 'pool');
  }

  async init(mode: 'auto' | 'off'): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o711 });
    await this.removeSpareFiles();
    if (mode === 'off') {
      this.reason = 'disk limits disabled by SHOAL_RUNNER_DISK_QUOTA=off';
      return;
    }
    const probe = await exec('losetup', ['-f'], { allowFailure: true });
    if (probe.code !== 0) {
      this.reason = `disk limits NOT enforced: no loop devices (${probe.stderr.trim()})`;
      return;
    }
    this.enforced = true;
    this.reason = 'disk limits enforced by a sparse ext4 image per sandbox (loop-mounted; writes past the limit get ENOSPC)';
  }

  /** Where the sandbox's upper/work directories live. */
  dir(id: string): string {
    return join(this.path, id);
  }

  private image(id: string): string {
    return join(this.path, `${id}.img`);
  }

  /** Whether the sandbox's filesystem exists (a create that failed early never made one). */
  async prepared(id: string): Promise<boolean> {
    const target = this.enforced ? this.image(id) : this.dir(id);
    return stat(target).then(() => true, () => false);
  }

  /** Creates the sandbox's filesystem (once, at create), from a spare of that size when one is ready. */
  async prepare(id: string, gib: number): Promise<void> {
    await mkdir(this.dir(id), { recursive: true, mode: 0o711 });
    if (!this.enforced) return;
    const spares = this.spares.get(gib) ?? [];
    this.spares.delete(gib);
    this.spares.set(gib, spares);
    // Taken from the list before any await: two creates never get the same one.
    const spare = spares.pop();
    for (const size of [...this.spares.keys()].slice(0, Math.max(0, this.spares.size - SPARE_SIZES))) {
      const old = this.spares.get(size)!;
      this.spares.delete(size);
      for (const o of old) await this.discard(o);
    }
    if (!spare) {
      await makeFilesystem(this.image(id), gib);
      return;
    }
    await rename(spare.image, this.image(id));
    // A bind, then the spare's own mount goes: the loop device stays attached (with its direct I/O and dirty limit)
    // through the sandbox's mount, and is released with it. (`mount --move` is refused under a shared parent mount.)
    const bound = await exec('mount', ['--bind', spare.mountpoint, this.dir(id)], { allowFailure: true });
    if (bound.code === 0) {
      this.boundStaging.set(id, spare.mountpoint);
      return;
    }
    // At once here: the start mounts the image itself, and it must never be mounted twice.
    await this.unmountSpare(spare.mountpoint, true);
    this.warn(`disk of ${id}: spare not bound (${bound.stderr.trim()}); mounting it at start instead`);
  }

  /**
   * Makes spares of the sizes recently asked for, one at a time, each through `run` (the runner's start queue when
   * no start holds or waits for it: a spare costs about 50 ms of CPU, which a toolbox booting beside it would pay),
   * while `wanted()` holds (not once the runner is closing).
   */
  refill(run: (work: () => Promise<void>) => Promise<void>, wanted: () => boolean = () => true): Promise<void> {
    if (!this.enforced) return Promise.resolve();
    const next = this.refilling.then(async () => {
      if (this.boundStaging.size > 0) await run(() => this.unmountBoundStaging());
      for (;;) {
        const size = [...this.spares.entries()].reverse().find(([, list]) => list.length < SPARES_PER_SIZE)?.[0];
        if (size === undefined || !wanted()) return;
        const base = join(this.path, `${SPARE_PREFIX}${size}-${process.pid}-${++this.spareSeq}`);
        const spare: Spare = { image: `${base}.img`, mountpoint: `${base}.mnt` };
        await run(async () => {
          await makeFilesystem(`${base}.tmp`, size);
          await rename(`${base}.tmp`, spare.image);
          await mkdir(spare.mountpoint, { mode: 0o700 });
          await this.mountImage(spare.image, spare.mountpoint, basename(base));
        }).catch(async (err: Error) => {
          await this.discard(spare);
          await rm(`${base}.tmp`, { force: true });
          throw err;
        });
        const list = this.spares.get(size);
        if (list && wanted()) list.push(spare);
        else await this.discard(spare);
      }
    });
    this.refilling = next.catch((err: Error) => this.warn(`spare disk not made: ${err.message}`));
    return this.refilling;
  }

  /** Unmounts and removes the spares (the runner is closing): nothing of them outlives the process. */
  async close(): Promise<void> {
    const all = [...this.spares.values()].flat();
    this.spares.clear();
    await this.refilling;
    for (const spare of all) await this.discard(spare);
    await this.unmountBoundStaging();
  }

  /** `only`: the staging mount of that sandbox alone (its disk is unmounted: the loop device must go with it). */
  private async unmountBoundStaging(only?: string): Promise<void> {
    for (const [id, mountpoint] of [...this.boundStaging]) {
      if (only !== undefined && id !== only) continue;
      this.boundStaging.delete(id);
      await this.unmountSpare(mountpoint, true);
    }
  }

  private async discard(spare: Spare): Promise<void> {
    await this.unmountSpare(spare.mountpoint);
    await rm(spare.image, { force: true });
  }

  /** `mounted`: known to be mounted, so a create's path does not read the host's mount table to learn it. */
  private async unmountSpare(mountpoint: string, mounted?: boolean): Promise<void> {
    if (mounted ?? (await isMounted(mountpoint))) {
      const r = await exec('umount', [mountpoint], { allowFailure: true });
      if (r.code !== 0) await exec('umount', ['-l', mountpoint], { allowFailure: true });
    }
    await rmdir(mountpoint).catch(() => undefined);
  }

  /** Spares a runner killed before close() left behind. */
  private async removeSpareFiles(): Promise<void> {
    for (const name of await readdir(this.path)) {
      if (!name.startsWith(SPARE_PREFIX)) continue;
      if (name.endsWith('.mnt')) await this.unmountSpare(join(this.path, name));
      else await rm(join(this.path, name), { force: true });
    }
  }

  /**
   * Removes the disks no sandbox claims: a runner killed between making a sandbox's disk and saving its metadata left
   * one (mounted, from a spare) that no destroy would ever reach, since the restarted runner never heard of the
   * sandbox. Called once at start, after recovery, before anything is created. Returns how many went.
   */
  async removeUnclaimed(claimed: (id: string) => Promise<boolean>): Promise<number> {
    const ids = new Set<string>();
    for (const name of await readdir(this.path)) {
      if (!name.startsWith(SPARE_PREFIX)) ids.add(name.endsWith('.img') ? name.slice(0, -'.img'.length) : name);
    }
    let removed = 0;
    for (const id of ids) {
      if (await claimed(id)) continue;
      await this.remove(id);
      removed++;
    }
    return removed;
  }

  async mount(id: string): Promise<void> {
    if (!this.enforced || (await isMounted(this.dir(id)))) return;
    if (!(await stat(this.image(id)).then(() => true, () => false))) return;
    await this.mountImage(this.image(id), this.dir(id), id);
  }

  private async mountImage(image: string, target: string, what: string): Promise<void> {
    await exec('mount', ['-o', 'loop,nosuid,nodev', image, target]);
    // Direct I/O on the loop device: without it every block the sandbox writes is cached twice, the second time in
    // the host's page cache for the image file, charged to no sandbox, and flushed by kernel threads outside the
    // sandbox's CPU and memory limits, so a sandbox rewriting its disk slowed its neighbours (isolation e2e).
    const device = await mountSource(target);
    if (device?.startsWith('/dev/loop')) {
      const r = await exec('losetup', ['--direct-io=on', device], { allowFailure: true });
      if (r.code !== 0) this.warn(`disk of ${what}: direct I/O not set on ${device}: ${r.stderr.trim()}`);
      await this.limitDirty(what, device);
    }
  }

  /**
   * Caps the page cache a sandbox may hold dirty on its disk. Without a cap it can dirty up to the host's global
   * limit (a fifth of RAM) and the flush of that backlog stalls every other writer on the host; with it, the
   * sandbox's own writes wait for its disk and nobody else's do.
   */
  private async limitDirty(id: string, device: string): Promise<void> {
    const { rdev } = await stat(device);
    const bdi = `/sys/class/bdi/${Math.floor(rdev / 256) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
    try {
      await writeFile(join(bdi, 'max_bytes'), String(DIRTY_BYTES_PER_SANDBOX));
      await writeFile(join(bdi, 'strict_limit'), '1');
    } catch (err) {
      this.warn(`disk of ${id}: dirty page limit not set on ${bdi}: ${(err as Error).message}`);
    }
  }

  async unmount(id: string): Promise<void> {
    if (await isMounted(this.dir(id))) {
      const r = await exec('umount', [this.dir(id)], { allowFailure: true });
      if (r.code !== 0) await exec('umount', ['-l', this.dir(id)], { allowFailure: true });
    }
    // A stopped or destroyed sandbox holds no loop device: a staging mount not yet unmounted would keep it.
    await this.unmountBoundStaging(id);
  }

  async remove(id: string): Promise<void> {
    await this.unmount(id);
    await rm(this.dir(id), { recursive: true, force: true });
    await rm(this.image(id), { force: true });
  }
}

export async function isMounted(path: string): Promise<boolean> {
  return (await mountSource(path)) !== undefined;
}

/** The device (first field of /proc/self/mounts) of the last mount on `path`, if any. */
async function mountSource(path: string): Promise<string | undefined> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const line = mounts.split('\n').filter((l) => l.split(' ')[1] === path).at(-1);
  return line?.split(' ')[0];
}

/** A sparse file of `gib` GiB holding an empty ext4 filesystem whose root belongs to root. */
async function makeFilesystem(file: string, gib: number): Promise<void> {
  const fh = await open(file, 'w', 0o600);
  await fh.truncate(gib * 1024 ** 3);
  await fh.close();
  // -m 0: the sandbox's root is not root on the host, so reserved blocks would only shrink its quota.
  await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0', file]);
}
