import { createServer } from 'node:net';

/** Asks the kernel for a free loopback TCP port. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** True when nothing listens on host:port yet. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * A port for one of the platform's processes, never one already in `taken` (the chosen one is added to it): nothing
 * listens on a chosen port until its process starts, so the kernel may offer the same free port twice in a row (the
 * object store and the SSH gateway once got the same one, and the gateway died on EADDRINUSE).
 */
export async function pickPort(preferred: number, prefer: boolean, taken: Set<number>, free: () => Promise<number> = freePort): Promise<number> {
  let port = prefer && !taken.has(preferred) && (await portIsFree(preferred)) ? preferred : await free();
  for (let tries = 0; taken.has(port); tries++) {
    if (tries >= 50) throw new Error("no free loopback port distinct from the platform's others");
    port = await free();
  }
  taken.add(port);
  return port;
}
