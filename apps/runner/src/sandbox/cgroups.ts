import { readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
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

  /**
   * Removes one sandbox's cgroups after its container is gone; a group the kernel still reports busy is retried
   * briefly. Processes still in the group are killed: the group is the sandbox's alone, and a runtime that lost track
   * of its container (its `run` interrupted halfway) would otherwise leave them running with no state to find them
   * by. Returns how many such processes there were.
   */
  async remove(id: string): Promise<number> {
    let left = (await this.parents()).map((p) => join(p, id));
    let killed = 0;
    for (let round = 0; round < 40 && left.length > 0; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 25));
      const busy: string[] = [];
      for (const dir of left) if (!(await removeTree(dir))) busy.push(dir);
      for (const dir of busy) killed += await killMembers(dir);
      left = busy;
    }
    return killed;
  }

  private async parents(): Promise<string[]> {
    const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
    return controllers.map((c) => join('/sys/fs/cgroup', c, `shoal_${this.bridgeName}`));
  }
}

/** Removes a cgroup directory and its sub-groups, deepest first; true when it is gone. */
async function removeTree(dir: string): Promise<boolean> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of children) if (e.isDirectory()) await removeTree(join(dir, e.name));
  const err = await rmdir(dir).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  return !err || err.code === 'ENOENT' || err.code === 'ENOTDIR';
}

/** SIGKILLs every process in a cgroup and its sub-groups (one write where the kernel has cgroup.kill); returns how many were listed. */
async function killMembers(dir: string): Promise<number> {
  let n = 0;
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of children) if (e.isDirectory()) n += await killMembers(join(dir, e.name));
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => ''))
    .split('\n')
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
  if (pids.length === 0) return n;
  const viaKernel = await writeFile(join(dir, 'cgroup.kill'), '1').then(
    () => true,
    () => false,
  );
  if (!viaKernel) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
  return n + pids.length;
}
