import { chmod, mkdir, open, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RANGE_SIZE } from '../sandbox/uid-pool.js';
import { exec } from '../util/exec.js';
import type { VolumeAttach, VolumeDriver } from './driver.js';
import { withHostLock } from './host-lock.js';
import { mountTable } from './mountinfo.js';

export interface LocalDriverOptions {
  /** Shared by every runner of this host (two runners must see one volume as the same files). */
  dir: string;
  sizeGiB: number;
  /** The canonical on-disk range of volume files: the runner's legacy uid base, which every runner of a host shares. */
  canonicalBase: number;
  /** The compiled shoal-idmap. */
  idmapHelper: string;
  log: { info: (msg: string) => void; warn: (msg: string) => void };
}

/**
 * Volumes on this host's disk. Each volume is a sparse ext4 image of `sizeGiB` (a full volume gives ENOSPC), loop-
 * mounted once per host under `<dir>/mnt/<id>` (root-only) while any sandbox of any runner uses it; its files are
 * stored owned by the canonical range, and each sandbox gets an idmapped bind of it (canonical -> its own range), so
 * every sandbox's user owns what any of them wrote. Without loop devices a volume is a plain directory (no size limit).
 * Steps that change the shared mount hold a host-wide lock per volume, so two runners never mount one volume twice
 * nor unmount it under each other; "in use" is read from the host's mount table (a sandbox's bind lives as long as
 * the sandbox runs), not from any one runner's memory.
 */
export class LocalVolumeDriver implements VolumeDriver {
  readonly kind = 'local' as const;
  description = '';
  private loop = false;

  constructor(private readonly o: LocalDriverOptions) {}

  async init(): Promise<void> {
    for (const d of [this.o.dir, join(this.o.dir, 'mnt'), join(this.o.dir, 'images'), join(this.o.dir, 'locks')]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
    }
    this.loop = (await exec('losetup', ['-f'], { allowFailure: true })).code === 0;
    this.description = this.loop
      ? `volumes: local driver, ${this.o.sizeGiB} GiB sparse ext4 image per volume under ${this.o.dir} (loop-mounted once per host)`
      : `volumes: local driver WITHOUT size limits (no loop devices): a directory per volume under ${this.o.dir}`;
  }

  private mnt(id: string): string {
    return join(this.o.dir, 'mnt', id);
  }

  private image(id: string): string {
    return join(this.o.dir, 'images', `${id}.img`);
  }

  private lock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return withHostLock(join(this.o.dir, 'locks', `${id}.lock`), fn);
  }

  async attach(a: VolumeAttach): Promise<void> {
    await this.lock(a.volumeId, async () => {
      const root = await this.ensureMounted(a.volumeId);
      await exec(this.o.idmapHelper, ['subdir', `${this.o.canonicalBase}:${a.uidBase}:${RANGE_SIZE}`, root, a.subpath || '.', a.target]);
    });
  }

  async detach(volumeId: string, target: string): Promise<void> {
    await unmount(target);
    await this.lock(volumeId, async () => {
      if (!(await this.inUseLocked(volumeId))) await this.unmountShared(volumeId);
    });
  }

  inUse(volumeId: string): Promise<boolean> {
    return this.lock(volumeId, () => this.inUseLocked(volumeId));
  }

  remove(volumeId: string): Promise<boolean> {
    return this.lock(volumeId, async () => {
      if (await this.inUseLocked(volumeId)) return false;
      await this.unmountShared(volumeId);
      await rm(this.image(volumeId), { force: true });
      // Only the mount point, now empty: a directory volume's files are removed by rm below, nothing mounted is followed.
      await rm(this.mnt(volumeId), { recursive: true, force: true });
      return true;
    });
  }

  async close(): Promise<void> {
    const table = await mountTable();
    const prefix = `${join(this.o.dir, 'mnt')}/`;
    for (const m of table.filter((e) => e.mountPoint.startsWith(prefix))) {
      const id = m.mountPoint.slice(prefix.length);
      await this.lock(id, async () => {
        if (!(await this.inUseLocked(id))) await this.unmountShared(id);
      }).catch((err: Error) => this.o.log.warn(`volume ${id}: ${err.message}`));
    }
  }

  /** Whether a mount other than the shared one shows the volume's filesystem (a sandbox's bind, of any runner). */
  private async inUseLocked(id: string): Promise<boolean> {
    const table = await mountTable();
    const shared = table.find((e) => e.mountPoint === this.mnt(id));
    if (!shared) return false;
    return table.some((e) => e.dev === shared.dev && e.mountPoint !== shared.mountPoint);
  }

  /** The volume's root on the host, created and mounted if it is not yet. */
  private async ensureMounted(id: string): Promise<string> {
    const mnt = this.mnt(id);
    await mkdir(mnt, { recursive: true, mode: 0o700 });
    if (!this.loop) {
      await this.ownRoot(mnt, false);
      return mnt;
    }
    if ((await mountTable()).some((e) => e.mountPoint === mnt)) return mnt;
    const img = this.image(id);
    const fresh = !(await stat(img).then(() => true, () => false));
    if (fresh) {
      const tmp = `${img}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      await fh.truncate(Math.round(this.o.sizeGiB * 1024 ** 3));
      await fh.close();
      // -m 0: no blocks reserved for a root that is not the host's.
      const owner = `${this.o.canonicalBase}:${this.o.canonicalBase}`;
      await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', `lazy_itable_init=1,lazy_journal_init=1,root_owner=${owner}`, tmp]);
      await rename(tmp, img);
    }
    await exec('mount', ['-o', 'loop,nosuid,nodev', img, mnt]);
    if (fresh) {
      // lost+found would be every sandbox's clutter; the root is open to every user of every sandbox (as a shared
      // disk between machines would be), since the sandboxes' user ids are theirs to choose.
      await rmdir(join(mnt, 'lost+found')).catch(() => undefined);
      await this.ownRoot(mnt, true);
    }
    return mnt;
  }

  private async ownRoot(root: string, always: boolean): Promise<void> {
    const st = await stat(root);
    if (!always && st.uid === this.o.canonicalBase) return;
    await exec('chown', [`${this.o.canonicalBase}:${this.o.canonicalBase}`, root]);
    await chmod(root, 0o777);
  }

  private async unmountShared(id: string): Promise<void> {
    if (!this.loop) return;
    await unmount(this.mnt(id));
  }
}

/** Unmounts `path` if something is mounted there (lazily if it is busy). */
export async function unmount(path: string): Promise<void> {
  for (let i = 0; i < 4; i++) {
    if (!(await mountTable()).some((e) => e.mountPoint === path)) return;
    const r = await exec('umount', [path], { allowFailure: true });
    if (r.code !== 0) await exec('umount', ['-l', path], { allowFailure: true });
  }
}
