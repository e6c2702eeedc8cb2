import { chmod, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * PostgreSQL runs as the `postgres` user and sandboxes as an unprivileged uid range, and both must reach files below
 * the repository (the toolbox bundle) and the data directory. A clone in /root or in a `mktemp -d` directory (mode
 * 0700) blocks them, so every ancestor gets the "others may traverse" bit (o+x: enter, not list). Returns what changed.
 */
export async function ensureTraversable(path: string): Promise<string[]> {
  const changed: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) {
      await chmod(dir, (st.mode & 0o7777) | 0o001);
      changed.push(dir);
    }
    if (dirname(dir) === dir) break;
  }
  return changed;
}
