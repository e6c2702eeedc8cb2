import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

export class DiskPool {
  readonly path: string;
  enforced = false;
  reason = '';

  constructor(
    dataDir: string,
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.path = join(dataDir, 'pool');
  }

  async init(mode: 'auto' | 'off'): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o711 });
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

  /** Creates the sandbox's filesystem (once, at create). */
  async prepare(id: string, gib: number): Promise<void> {
    await mkdir(this.dir(id), { recursive: true, mode: 0o711 });
    if (!this.enforced) return;
    const fh = await open(this.image(id), 'w', 0o600);
    await fh.truncate(gib * 1024 ** 3);
    await fh.close();
    // -m 0: the sandbox's root is not root on the host, so reserved blocks would only shrink its quota.
    await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0', this.image(id)]);
  }

  async mount(id: string): Promise<void> {
    if (!this.enforced || (await isMounted(this.dir(id)))) return;
    if (!(await stat(this.image(id)).then(() => true, () => false))) return;
    await exec('mount', ['-o', 'loop,nosuid,nodev', this.image(id), this.dir(id)]);
    // Direct I/O on the loop device: without it every block the sandbox writes is cached twice, the second time in
    // the host's page cache for the image file, charged to no sandbox, and flushed by kernel threads outside the
    // sandbox's CPU and memory limits, so a sandbox rewriting its disk slowed its neighbours (isolation e2e).
    const device = await mountSource(this.dir(id));
    if (device?.startsWith('/dev/loop')) {
      const r = await exec('losetup', ['--direct-io=on', device], { allowFailure: true });
      if (r.code !== 0) this.warn(`disk of ${id}: direct I/O not set on ${device}: ${r.stderr.trim()}`);
      await this.limitDirty(id, device);
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
    if (!(await isMounted(this.dir(id)))) return;
    const r = await exec('umount', [this.dir(id)], { allowFailure: true });
    if (r.code !== 0) await exec('umount', ['-l', this.dir(id)], { allowFailure: true });
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
