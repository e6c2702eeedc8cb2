import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { delimiter, isAbsolute } from 'node:path';
import { resolveExecutable } from './user-spawn.js';

/** More PATH directories than this are never all watched: such a PATH is looked up every time. */
const MAX_WATCHED = 32;

/**
 * Where PATH lookups found a program, kept while nothing changes in the PATH's directories. Every SDK command starts
 * `sh`, and finding it costs one stat per directory before the one holding it plus an access check: each a round trip
 * through libuv's thread pool, measured at p50 0.4-0.8 ms and p90 4-7 ms for the sandbox's PATH on a busy 2-core
 * host, against under 0.1 ms for a map lookup.
 *
 * An answer is kept only when every directory of the PATH is absolute, exists on the root filesystem's device and is
 * watched (inotify): any event in any of them (a program added, removed, renamed, its mode changed) forgets every
 * answer, so a command never runs a program a fresh lookup would not find. Directories on other filesystems (a
 * volume: s3fs does not report changes made elsewhere) and relative entries leave that PATH uncached. The watches are
 * placed before the lookup whose answer they guard, and an answer is dropped if anything changed while it was looked
 * up. A program found through a symbolic link whose target then vanishes fails to start; `forget` is called then, and
 * the next lookup is made afresh.
 */
export class PathLookups {
  private readonly found = new Map<string, string>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** PATH values known not to be cacheable (see above), so they are not checked again until something changes. */
  private readonly uncacheable = new Set<string>();
  private generation = 0;
  private rootDev: number | undefined;
  private closed = false;

  async resolve(file: string, path: string | undefined, cwd: string): Promise<string | undefined> {
    if (file.includes('/') || path === undefined || this.closed) return resolveExecutable(file, path, cwd);
    const key = `${path}\0${file}`;
    const hit = this.found.get(key);
    if (hit !== undefined) return hit;
    const watched = await this.watchAll(path);
    const generation = this.generation;
    const resolved = await resolveExecutable(file, path, cwd);
    if (watched && resolved !== undefined && generation === this.generation && !this.closed) this.found.set(key, resolved);
    return resolved;
  }

  /** A cached answer turned out wrong (the program did not start): looked up afresh next time. */
  forget(): void {
    this.changed();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.found.clear();
  }

  get watchedDirectories(): number {
    return this.watchers.size;
  }

  get answersKept(): number {
    return this.found.size;
  }

  /** True when every directory of `path` is watched now. */
  private async watchAll(path: string): Promise<boolean> {
    if (this.uncacheable.has(path)) return false;
    const dirs = [...new Set(path.split(delimiter))];
    const ok = dirs.length > 0 && dirs.every((d) => d !== '' && isAbsolute(d)) && (await this.watchEach(dirs));
    if (!ok && this.uncacheable.size < MAX_WATCHED) this.uncacheable.add(path);
    return ok;
  }

  private async watchEach(dirs: string[]): Promise<boolean> {
    try {
      this.rootDev ??= (await stat('/')).dev;
      for (const dir of dirs) {
        if (this.watchers.has(dir)) continue;
        if (this.watchers.size >= MAX_WATCHED || this.closed) return false;
        const st = await stat(dir);
        if (!st.isDirectory() || st.dev !== this.rootDev) return false;
        // Checked again: another lookup may have placed this watch meanwhile.
        if (this.watchers.has(dir)) continue;
        const w = watch(dir, { persistent: false }, () => this.changed());
        w.on('error', () => {
          w.close();
          if (this.watchers.get(dir) === w) this.watchers.delete(dir);
          this.changed();
        });
        this.watchers.set(dir, w);
      }
      return true;
    } catch {
      return false;
    }
  }

  private changed(): void {
    this.generation++;
    this.found.clear();
    this.uncacheable.clear();
  }
}
