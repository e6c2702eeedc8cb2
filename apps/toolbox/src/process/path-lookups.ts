import { watch, type FSWatcher } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { resolveExecutable } from './user-spawn.js';

/** At most this many directories are watched; answers found after the last one watched are not kept. */
const MAX_WATCHED = 32;

/**
 * Where PATH lookups found a program, kept while nothing changes in the PATH's directories. Every SDK command starts
 * `sh`, and finding it costs one stat per directory before the one holding it plus an access check: each a round trip
 * through libuv's thread pool, measured at p50 0.4-0.8 ms and p90 4-7 ms for the sandbox's PATH on a busy 2-core
 * host, against under 0.1 ms for a map lookup.
 *
 * An answer is kept only when every PATH directory up to the one it was found in is absolute, a real directory (not a
 * symbolic link, which could be pointed elsewhere unseen), on the root filesystem's device (a volume, s3fs, would not
 * report changes made elsewhere) and watched (inotify). Any event in any watched directory (a program added, removed,
 * renamed, its mode changed, the directory itself moved or deleted) forgets every answer and every watch: the next
 * lookup watches the directories again as they are then. A PATH directory that does not exist (a `~/.local/bin` not
 * made yet) counts as watched when its parent is: its creation is an event there. The watches are placed before the
 * lookup whose answer they guard, and an answer that raced a change is not kept. A program found through a symbolic
 * link whose target then vanishes fails to start; `forget` is called then. Not seen: a symbolic link above a PATH
 * directory (say `/usr/local`) pointed elsewhere.
 */
export class PathLookups {
  private readonly found = new Map<string, string>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** PATH directories that do not exist, their parent watched. */
  private readonly absent = new Set<string>();
  /** PATH directories that cannot be watched (see above): not looked at again until something changes. */
  private readonly refused = new Set<string>();
  private generation = 0;
  private rootDev: number | undefined;
  private closed = false;

  async resolve(file: string, path: string | undefined, cwd: string): Promise<string | undefined> {
    if (file.includes('/') || path === undefined || this.closed) return resolveExecutable(file, path, cwd);
    const key = `${path}\0${file}`;
    const hit = this.found.get(key);
    if (hit !== undefined) return hit;
    const dirs = path.split(delimiter);
    const watched = await this.watchLeading(dirs);
    const generation = this.generation;
    const resolved = await resolveExecutable(file, path, cwd);
    if (resolved === undefined || generation !== this.generation || this.closed) return resolved;
    // The first entry that gives this answer (as resolveExecutable builds it) must be among the watched ones.
    const at = dirs.findIndex((d) => d !== '' && join(d, file) === resolved);
    if (at >= 0 && at < watched) this.found.set(key, resolved);
    return resolved;
  }

  /** A cached answer turned out wrong (the program did not start): looked up afresh next time. */
  forget(): void {
    this.changed();
  }

  close(): void {
    this.closed = true;
    this.unwatch();
    this.found.clear();
  }

  get watchedDirectories(): number {
    return this.watchers.size;
  }

  get answersKept(): number {
    return this.found.size;
  }

  /** Watches the PATH's directories in order; how many of the first ones are watched now. */
  private async watchLeading(dirs: string[]): Promise<number> {
    try {
      this.rootDev ??= (await stat('/')).dev;
      for (let i = 0; i < dirs.length; i++) {
        const dir = dirs[i]!;
        if (this.watchers.has(dir) || this.absent.has(dir)) continue;
        if (dir === '' || !isAbsolute(dir) || this.refused.has(dir) || this.closed) return i;
        const generation = this.generation;
        const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => err);
        if (generation !== this.generation) return i;
        if (st instanceof Error) {
          const parent = dirname(dir);
          if (st.code !== 'ENOENT' || !(await this.watchDirectory(parent))) return this.refuse(dir, i);
          this.absent.add(dir);
        } else if (!(await this.watchDirectory(dir))) return this.refuse(dir, i);
      }
      return dirs.length;
    } catch {
      return 0;
    }
  }

  /** Watches `dir` if it is a real directory on the root device and there is room; whether it is watched now. */
  private async watchDirectory(dir: string): Promise<boolean> {
    if (this.watchers.has(dir)) return true;
    if (this.watchers.size >= MAX_WATCHED) return false;
    const generation = this.generation;
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory() || st.dev !== this.rootDev || generation !== this.generation || this.closed) return false;
    // Checked again: another lookup may have placed this watch meanwhile.
    if (this.watchers.has(dir)) return true;
    const w = watch(dir, { persistent: false }, () => this.changed());
    w.on('error', () => this.changed());
    this.watchers.set(dir, w);
    return true;
  }

  private refuse(dir: string, at: number): number {
    if (this.refused.size < MAX_WATCHED) this.refused.add(dir);
    return at;
  }

  private changed(): void {
    this.generation++;
    this.found.clear();
    this.unwatch();
  }

  private unwatch(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.absent.clear();
    this.refused.clear();
  }
}
