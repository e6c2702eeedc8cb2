import { build, type AppDeps, type ShoalApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { RunnerAdapter } from '../../src/reconciler/runner-client.js';
import pg from 'pg';
import { createTestDatabase, TEST_ADMIN_KEY, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './database.js';
import { FakeRunner, type FakeRunnerOptions } from './fake-runner.js';

export const adminAuth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
/** The SSH gateway's service credential in test apps: the only caller validateSshAccess accepts. */
export const TEST_SSH_GATEWAY_TOKEN = 'ssh-gateway-test-credential-0123456789abcdef';
export const sshGatewayAuth = { authorization: `Bearer ${TEST_SSH_GATEWAY_TOKEN}` };

export async function buildTestApp(
  databaseUrl: string,
  opts: { background?: boolean; env?: Record<string, string>; runnerAdapter?: RunnerAdapter; beforeReady?: (app: ShoalApp) => void; logger?: AppDeps['logger'] } = {},
): Promise<ShoalApp> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
    SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
    SHOAL_RECONCILE_INTERVAL_MS: '200',
    SHOAL_RUNNER_HEALTH_INTERVAL_MS: '60000',
    SHOAL_CREATE_WAIT_MS: '10000',
    SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
    SHOAL_SSH_GATEWAY_TOKEN: TEST_SSH_GATEWAY_TOKEN,
    // No pool unless a test asks for one: pooled creates would show up in the calls other tests count.
    SHOAL_WARM_POOL_SIZE: '0',
    ...opts.env,
  });
  const app = await build({ config, background: opts.background ?? true, ...(opts.runnerAdapter ? { runnerAdapter: opts.runnerAdapter } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
  opts.beforeReady?.(app);
  await app.ready();
  return app;
}

/** Registers a runner through the API (as the admin) and returns its id. */
export async function registerRunner(app: ShoalApp, url: string, token: string, domain = 'runner-1.test'): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/runners',
    headers: adminAuth,
    payload: { domain, apiUrl: url, proxyUrl: url, apiKey: token, cpu: 64, memoryGiB: 128, diskGiB: 1000, region: 'us' },
  });
  if (res.statusCode >= 300) throw new Error(`runner registration failed: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

/**
 * Takes a runner out of scheduling (before its fake is stopped), so later creates in the same file never land on a
 * runner that is gone and end in error.
 */
export async function retireRunner(app: ShoalApp, id: string): Promise<void> {
  const res = await app.inject({ method: 'PATCH', url: `/api/runners/${id}/scheduling`, headers: adminAuth, payload: { unschedulable: true } });
  if (res.statusCode >= 300) throw new Error(`runner retirement failed: ${res.statusCode} ${res.body}`);
}

/** Creates a user with a personal organization and a full-permission key, for cross-organization tests. */
export async function createTenant(app: ShoalApp, id: string): Promise<{ key: string; organizationId: string; auth: { authorization: string } }> {
  const res = await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: { id, name: id, createApiKey: true } });
  if (res.statusCode !== 201) throw new Error(`user creation failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as { apiKey: string; organizationId: string };
  return { key: body.apiKey, organizationId: body.organizationId, auth: { authorization: `Bearer ${body.apiKey}` } };
}

/** A test database, a fake runner registered with an app on it, and a SQL client for assertions. */
export interface FakeRunnerApp {
  db: TestDatabase;
  runner: FakeRunner;
  app: ShoalApp;
  sql: pg.Client;
  close(): Promise<void>;
}

/** The setup most service-level files share; `close` undoes it in reverse order. */
export async function startFakeRunnerApp(opts: Omit<FakeRunnerOptions, 'token'> & { token: string; env?: Record<string, string> }): Promise<FakeRunnerApp> {
  const { env, ...runnerOpts } = opts;
  const db = await createTestDatabase();
  const runner = await new FakeRunner(runnerOpts).start();
  const app = await buildTestApp(db.url, env ? { env } : {});
  await registerRunner(app, runner.url, opts.token);
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  return {
    db,
    runner,
    app,
    sql,
    async close() {
      await sql.end();
      await app.close();
      await runner.stop();
      await db.drop();
    },
  };
}
