import { open, readFile, unlink } from 'node:fs/promises';

/**
 * A lock shared by every runner process of this host (they share the volumes directory): a file created with O_EXCL
 * holding the owner's pid. A lock whose owner is gone (a runner killed while holding it) is taken over.
 */
export async function withHostLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fh = await open(path, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return undefined;
      throw err;
    });
    if (fh) {
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    // An empty file is a lock being written right now; only a named owner that no longer exists is stale.
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) await unlink(path).catch(() => undefined);
    if (Date.now() > deadline) throw new Error(`timed out waiting for the host lock ${path}`);
    await new Promise((r) => setTimeout(r, 15));
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
