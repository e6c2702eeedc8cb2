/*
 * An API process of its own for the benches that measure the API alone (observability, dashboard, API reads): the
 * real `apps/api/src/main.ts` on a database the bench started, in production mode, quiet, with a fixed admin key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort, SERVICE_NODE_FLAGS } from '@shoal/platform';
import { TEST_PLATFORM_SECRET } from '../../apps/api/test/helpers/database.js';

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);

export interface ApiProcess {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the API and resolves once /api/health answers; `env` adds to (or overrides) the bench defaults. */
export async function startApiProcess(
  name: string,
  opts: { databaseUrl: string; dataDir: string; adminKey: string; env?: Record<string, string>; nodeArgs?: string[] },
): Promise<ApiProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...(opts.nodeArgs ?? []), '--import', 'tsx', join(repoRoot, 'apps/api/src/main.ts')], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      DATABASE_URL: opts.databaseUrl,
      SHOAL_API_PORT: String(port),
      SHOAL_DATA_DIR: opts.dataDir,
      // The test fakes (a stand-in runner) accept call credentials derived from this secret.
      SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
      SHOAL_ADMIN_API_KEY: opts.adminKey,
      SHOAL_WRITE_CREDENTIALS: '0',
      SHOAL_API_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (await fetch(`${url}/api/health`).then((r) => r.ok, () => false)) break;
    if (proc.exitCode !== null) throw new Error(`the ${name} API exited with ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`the ${name} API did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };
  return { url, proc, stop };
}

/** Registers a stand-in runner and creates one sandbox on it, retrying until a health check made the runner schedulable. */
export async function createSandboxOnFakeRunner(apiUrl: string, adminKey: string, runner: { url: string; token: string }): Promise<{ id: string; state: string }> {
  const auth = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  const reg = await fetch(`${apiUrl}/api/runners`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ domain: 'bench-runner', apiUrl: runner.url, proxyUrl: runner.url, apiKey: runner.token, cpu: 64, memoryGiB: 128, diskGiB: 1000, region: 'us' }),
  });
  if (!reg.ok) throw new Error(`runner registration: ${reg.status} ${await reg.text()}`);
  for (let tries = 0; ; tries++) {
    const created = await fetch(`${apiUrl}/api/sandbox`, { method: 'POST', headers: auth, body: '{}' });
    const body = (await created.json()) as { id: string; state: string };
    if (created.ok) return body;
    if (tries > 60) throw new Error(`create: ${created.status} ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
