/*
 * A private registry for e2e tests: Debian's distribution `docker-registry` on loopback behind htpasswd (bcrypt) basic
 * auth, as apps/runner/test/image-fixtures.ts starts it for the medium tier. Anonymous callers get 401, so a pull
 * without the right credentials fails with the registry's own "authentication required".
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@shoal/platform';

const run = promisify(execFile);

export interface PrivateRegistry {
  host: string;
  username: string;
  password: string;
  stop(): Promise<void>;
}

export async function startPrivateRegistry(dir: string, username: string, password: string): Promise<PrivateRegistry> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  // The registry accepts only bcrypt lines; Python's crypt (libxcrypt) makes them without extra packages.
  const hash = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      'python3',
      ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'],
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    );
    child.stdin?.end(password);
  });
  await writeFile(join(dir, 'htpasswd'), `${username}:${hash}\n`);
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    'auth:',
    '  htpasswd:',
    '    realm: e2e-private',
    `    path: ${join(dir, 'htpasswd')}`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config);
  const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await fetch(`http://${host}/v2/`).then((r) => r.status, () => 0);
    if (status === 401) break;
    if (status === 200) {
      await stop();
      throw new Error('the private registry answered without authentication');
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error('the private registry did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host, username, password, stop };
}

/** Copies `source` (an open registry, e.g. the run's shared one) into the private registry as `dest`, with its login. */
export async function copyIntoPrivate(registry: PrivateRegistry, source: string, dest: string, workDir: string): Promise<void> {
  await run(
    'skopeo',
    ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', `${registry.username}:${registry.password}`, `docker://${source}`, `docker://${dest}`],
    // No ambient login of this host: only the credentials given here.
    { env: { PATH: '/usr/bin:/bin', HOME: workDir, REGISTRY_AUTH_FILE: join(workDir, 'no-auth.json') }, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
  );
}
