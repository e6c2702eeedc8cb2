import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from './managed-process.js';

export interface RegistryOptions {
  dataDir: string;
  port: number;
  host?: string;
  log?: (line: string) => void;
  /** Recorded while the registry runs (see leftovers.ts). */
  pidFile?: string;
}

export interface RunningRegistry {
  /** host:port, as used in image references. */
  address: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts Debian's `docker-registry` (the CNCF distribution registry) on loopback with filesystem storage. Snapshots
 * are OCI images pushed here, so every runner pulls them the same way whether they were built locally or not.
 */
export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  const host = opts.host ?? '127.0.0.1';
  await mkdir(join(opts.dataDir, 'storage'), { recursive: true });
  const config = join(opts.dataDir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(opts.dataDir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}:${opts.port}`,
      '',
    ].join('\n'),
  );
  const proc = new ManagedProcess({
    name: 'registry',
    command: '/usr/bin/docker-registry',
    args: ['serve', config],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    cwd: opts.dataDir,
    // Stopped by the supervisor once nothing pulls or pushes any more, not by a Ctrl-C to the terminal's group.
    ownProcessGroup: true,
    ...(opts.pidFile ? { pidFile: opts.pidFile } : {}),
    log: (line) => {
      // The registry logs every 404 of a blob or manifest probe at error level; those are how pushes and pulls
      // discover what is missing, not failures.
      if (/response completed with error/.test(line) && /(blob|manifest) unknown/.test(line)) return;
      opts.log?.(line);
    },
  });
  proc.start();
  const address = `${host}:${opts.port}`;
  await waitForHttp(`http://${address}/v2/`, 15000, () => proc.running);
  return { address, process: proc, stop: () => proc.stop() };
}

export async function waitForHttp(url: string, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`process behind ${url} exited`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`);
}
