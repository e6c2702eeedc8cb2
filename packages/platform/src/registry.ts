import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManagedProcess } from './managed-process.js';

export interface RegistryOptions {
  dataDir: string;
  port: number;
  host?: string;
  log?: (line: string) => void;
  /** Recorded while the registry runs (see leftovers.ts). */
  pidFile?: string;
  /**
   * Docker token auth: every pull and push needs a token signed by the API (the token server at `realm`) with the
   * key whose certificate is `certFile`. Without it the registry is open to anyone who can reach it.
   */
  tokenAuth?: { realm: string; service: string; issuer: string; certFile: string };
}

export interface RegistryTokenKeys {
  keyFile: string;
  certFile: string;
}

/**
 * The key the API signs registry tokens with and its self-signed certificate (the registry's root bundle), created
 * once in `dir` and kept: the key stays 0600 and is only ever read by the API.
 */
export async function ensureRegistryTokenKeys(dir: string): Promise<RegistryTokenKeys> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const keyFile = join(dir, 'token-key.pem');
  const certFile = join(dir, 'token-cert.pem');
  if (existsSync(keyFile) && existsSync(certFile)) return { keyFile, certFile };
  const tmpKey = `${keyFile}.tmp`;
  const tmpCert = `${certFile}.tmp`;
  await rm(tmpKey, { force: true });
  await rm(tmpCert, { force: true });
  // ~100 years: an expired certificate would lock runners out of every snapshot; the key never leaves the data dir.
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:3072', '-nodes', '-sha256', '-days', '36500',
    '-subj', '/CN=shoal-registry-token', '-keyout', tmpKey, '-out', tmpCert,
  ], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  await chmod(tmpKey, 0o600);
  await rename(tmpCert, certFile);
  await rename(tmpKey, keyFile);
  return { keyFile, certFile };
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
      ...(opts.tokenAuth
        ? [
            'auth:',
            '  token:',
            `    realm: ${JSON.stringify(opts.tokenAuth.realm)}`,
            `    service: ${JSON.stringify(opts.tokenAuth.service)}`,
            `    issuer: ${JSON.stringify(opts.tokenAuth.issuer)}`,
            `    rootcertbundle: ${JSON.stringify(opts.tokenAuth.certFile)}`,
          ]
        : []),
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
