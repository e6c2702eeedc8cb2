import { opendir } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkEntry {
  /** The root as the caller gave it, joined with the entry's relative path. */
  path: string;
  name: string;
  isDir: boolean;
  isFile: boolean;
}

/**
 * Depth-first walk that never follows symbolic links (no loops, no escaping through links) and skips directories
 * it cannot read instead of failing the whole search.
 */
export async function* walk(root: string, display: string): AsyncGenerator<WalkEntry> {
  const stack: { abs: string; shown: string }[] = [{ abs: root, shown: display }];
  while (stack.length > 0) {
    const dir = stack.pop() as { abs: string; shown: string };
    let handle;
    try {
      handle = await opendir(dir.abs);
    } catch {
      continue;
    }
    const children: { abs: string; shown: string }[] = [];
    for await (const entry of handle) {
      const abs = join(dir.abs, entry.name);
      const shown = join(dir.shown, entry.name);
      yield { path: shown, name: entry.name, isDir: entry.isDirectory(), isFile: entry.isFile() };
      if (entry.isDirectory()) children.push({ abs, shown });
    }
    children.sort((a, b) => (a.abs < b.abs ? 1 : -1));
    stack.push(...children);
  }
}
