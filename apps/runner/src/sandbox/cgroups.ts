import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The runner's cgroups: one parent per controller (`shoal_<bridge>`, so two runners never touch each other's), one
 * child per sandbox, created by the runtime from the spec's cgroupsPath.
 */
export class SandboxCgroups {
  constructor(private readonly bridgeName: string) {}

  /** The spec's cgroupsPath of a sandbox. */
  pathFor(id: string): string {
    return `/shoal_${this.bridgeName}/${id}`;
  }

  /**
   * Removes cgroup directories of sandboxes that are not running. The runtime deletes them itself, but not when it
   * was killed halfway or the kernel still held the group busy; an empty group left behind is only rmdir'd, so a
   * group that still has processes stays (rmdir fails) and nothing running is disturbed. Runs before the API serves.
   */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    for (const dir of await this.parents()) {
      const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of children) {
        if (e.isDirectory() && !keep.has(e.name)) await rmdir(join(dir, e.name)).catch(() => undefined);
      }
    }
  }

  /** With nothing running, the runner's parent cgroups go too (the next start recreates them). */
  async removeParents(keep: ReadonlySet<string>): Promise<void> {
    await this.sweep(keep);
    for (const dir of await this.parents()) await rmdir(dir).catch(() => undefined);
  }

  /** Removes one sandbox's cgroups after its container is gone; a group the kernel still reports busy is retried briefly. */
  async remove(id: string): Promise<void> {
    let left = (await this.parents()).map((p) => join(p, id));
    for (let round = 0; round < 20 && left.length > 0; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 25));
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

  private async parents(): Promise<string[]> {
    const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
    return controllers.map((c) => join('/sys/fs/cgroup', c, `shoal_${this.bridgeName}`));
  }
}
