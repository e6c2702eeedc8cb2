import { chmod, chown, mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumeMountSpec } from '@shoal/contracts';
import { RunnerError } from '../errors.js';
import type { VolumeDriver } from './driver.js';
import { unmount } from './local-driver.js';

/**
 * One sandbox's volumes on the host: each is attached at `<sandboxDir>/volumes/<n>.<volumeId>` (runner-made, never a
 * path inside the sandbox), and the runtime binds that directory at the mount path, resolving the mount path inside
 * the rootfs itself (a symlink the sandbox planted there cannot send the mount onto the host).
 */
export class SandboxVolumes {
  constructor(private readonly driver: VolumeDriver | undefined) {}

  static stagingRoot(sandboxDir: string): string {
    return join(sandboxDir, 'volumes');
  }

  /** Attaches every volume; returns the binds for the OCI spec, in order. */
  async attach(
    sandboxId: string,
    sandboxDir: string,
    uidBase: number,
    mounts: readonly VolumeMountSpec[],
  ): Promise<{ source: string; destination: string; readonly: boolean }[]> {
    if (mounts.length === 0) return [];
    const driver = this.driver;
    if (!driver) throw new RunnerError(400, 'This runner has no volume driver');
    const root = SandboxVolumes.stagingRoot(sandboxDir);
    await mkdir(root, { recursive: true });
    // The runtime reaches the staging dirs from inside the user namespace, as the sandbox's root; nobody else may.
    await chown(root, 0, uidBase);
    await chmod(root, 0o750);
    const binds = [];
    for (const [n, m] of mounts.entries()) {
      const target = join(root, `${n}.${m.volumeId}`);
      await unmount(target);
      await mkdir(target, { recursive: true, mode: 0o700 });
      await driver.attach({ volumeId: m.volumeId, subpath: m.subpath, sandboxId, uidBase, target });
      binds.push({ source: target, destination: m.mountPath, readonly: false });
    }
    return binds;
  }

  /** Detaches whatever is attached under the sandbox's staging root (also after a crash left it half-made). */
  async release(sandboxDir: string): Promise<void> {
    const root = SandboxVolumes.stagingRoot(sandboxDir);
    const entries = await readdir(root).catch(() => [] as string[]);
    for (const name of entries) {
      const target = join(root, name);
      const volumeId = name.slice(name.indexOf('.') + 1);
      if (this.driver) await this.driver.detach(volumeId, target);
      else await unmount(target);
      await rmdir(target).catch(() => undefined);
    }
  }
}
