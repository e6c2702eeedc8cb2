import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { request } from 'undici';
import type { BuildSnapshot } from '@shoal/contracts';
import { build, type ShoalApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { RunnerCallError, type RunnerTarget } from '../src/reconciler/runner-client.js';
import { buildRef, type BuildRunnerClient } from '../src/services/build.service.js';
import { createTestDatabase, TEST_ADMIN_KEY, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Builds driven from claimed rows (reconciler/build-driver.ts) against real PostgreSQL:
 * - real API processes (src/main.ts): the one driving a build is SIGKILLed, another takes the build over when the
 *   lease lapses, joins the runner's build (no second build starts) and the snapshot ends active exactly once;
 * - the build timeout (SHOAL_BUILD_TIMEOUT_SECONDS): a build past it ends build_failed "timed out", is cancelled on the
 *   runner, and the sandboxes waiting on it go to error with that reason; a build left `building` long ago by a dead
 *   driver is failed and cancelled as soon as a driver claims it.
 */

const TOKEN = 'build-driver-runner-token';
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const adminAuth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

/**
 * A runner's build endpoints as the real runner keys them (routes/snapshots build, images/builder.ts): one build per
 * image reference; a second BuildSnapshot for a reference being built joins it and answers when it ends. Builds end
 * only when the test says so. `exists` is true once a build has finished (built, pushed, unpacked).
 */
class BuildRunner {
  starts: string[] = [];
  joins: string[] = [];
  cancels: string[] = [];
  private readonly running = new Map<string, { done: Promise<void>; finish: () => void }>();
  private readonly built = new Set<string>();
  private server!: http.Server;
  url = '';

  finish(ref: string): void {
    this.running.get(ref)?.finish();
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const r of this.running.values()) r.finish();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const send = (status: number, payload: unknown) => {
      if (res.destroyed) return;
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(payload));
    };
    const url = new URL(req.url ?? '/', 'http://x');
    if (!req.headers['x-daytona-authorization']) return send(401, { statusCode: 401, message: 'Unauthorized' });
    if (req.method === 'GET' && url.pathname === '/info') {
      const m = { currentCpuUsagePercentage: 1, currentMemoryUsagePercentage: 1, currentDiskUsagePercentage: 1, currentAllocatedCpu: 0, currentAllocatedMemoryGiB: 0, currentAllocatedDiskGiB: 0, currentSnapshotCount: 0 };
      return send(200, { version: 'fake-builds', metrics: m });
    }
    if (req.method === 'GET' && url.pathname === '/snapshots/exists') return send(200, { exists: this.built.has(url.searchParams.get('snapshot') ?? '') });
    if (req.method === 'GET' && url.pathname === '/snapshots/logs') return send(404, { statusCode: 404, message: 'no log' });
    if (req.method === 'POST' && url.pathname === '/snapshots/build/cancel') {
      const ref = url.searchParams.get('snapshot') ?? '';
      this.cancels.push(ref);
      return send(200, { cancelled: this.running.has(ref) });
    }
    if (req.method === 'POST' && url.pathname === '/snapshots/build') {
      const ref = (JSON.parse(body) as BuildSnapshot).snapshot;
      let cur = this.running.get(ref);
      if (cur) this.joins.push(ref);
      else {
        this.starts.push(ref);
        let finish!: () => void;
        const done = new Promise<void>((r) => (finish = r));
        cur = { done, finish };
        this.running.set(ref, cur);
        void done.then(() => {
          this.running.delete(ref);
          this.built.add(ref);
        });
      }
      await cur.done;
      return send(200, {});
    }
    send(404, { statusCode: 404, message: `no route ${req.method} ${url.pathname}` });
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('an API restart mid-build', () => {
  let db: TestDatabase;
  let runner: BuildRunner;
  const children = new Set<ChildProcess>();

  before(async () => {
    db = await createTestDatabase();
    runner = await new BuildRunner().start();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await runner?.stop();
    await db?.drop();
  });

  async function startApi(port: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        SHOAL_API_PORT: String(port),
        SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
        SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
        SHOAL_CLAIM_LEASE_MS: '2000',
        SHOAL_RECONCILE_INTERVAL_MS: '200',
        SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!out.includes('Server listening')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`API did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return child;
  }

  test('the API driving a build is killed: another process takes the build over, joins the runner build, and it completes exactly once', async () => {
    const port = 21000 + Math.floor(Math.random() * 20000);
    const base = `http://127.0.0.1:${port}/api`;
    const post = async (path: string, body: unknown) => {
      const r = await request(`${base}${path}`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
    };
    const first = await startApi(port);
    const reg = await post('/runners', { domain: 'builds.test', apiUrl: runner.url, proxyUrl: runner.url, apiKey: TOKEN, cpu: 8, memoryGiB: 16, diskGiB: 100 });
    assert.equal(reg.status, 201, JSON.stringify(reg.json));
    const created = await post('/snapshots', { name: 'survives', buildInfo: { dockerfileContent: `FROM ${TEST_DEFAULT_IMAGE}\nRUN sleep 600\n`, contextHashes: [] } });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const id = created.json.id as string;

    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const row = async () =>
        (await c.query(`SELECT state, claimed_by, build_started_at, internal_name, error_reason FROM snapshot WHERE id = $1`, [id])).rows[0] as {
          state: string;
          claimed_by: string | null;
          build_started_at: Date | null;
          internal_name: string;
          error_reason: string | null;
        };
      await waitFor('the first API to start the build on the runner', async () => runner.starts.length === 1);
      const atKill = await row();
      assert.equal(atKill.state, 'building');
      assert.match(atKill.claimed_by ?? '', /^build-/);
      assert.ok(atKill.build_started_at);
      first.kill('SIGKILL');
      await once(first, 'exit');

      // Nobody renews the lease now: the build must stay claimed by the dead process until it lapses, then be taken.
      await startApi(port);
      await waitFor('the second API to re-attach to the runner build', async () => runner.joins.length === 1);
      const taken = await row();
      assert.equal(taken.state, 'building');
      assert.notEqual(taken.claimed_by, atKill.claimed_by, 'claimed by the new process');
      assert.equal(taken.build_started_at?.getTime(), atKill.build_started_at.getTime(), 'the timeout still counts from the first start');

      runner.finish(atKill.internal_name);
      const done = await waitFor('the snapshot to settle', async () => {
        const r = await row();
        return r.state !== 'building' && r.claimed_by === null && r;
      });
      assert.equal(done.state, 'active', done.error_reason ?? '');
      assert.deepEqual(runner.starts, [atKill.internal_name], 'the runner started the build exactly once');
      assert.deepEqual(runner.joins, [atKill.internal_name]);
      assert.deepEqual(runner.cancels, []);
      const snap = await request(`${base}/snapshots/survives`, { headers: adminAuth });
      assert.equal(((await snap.body.json()) as { state: string }).state, 'active');
    } finally {
      await c.end();
    }
  });
});

describe('build timeout', () => {
  /** Builds that never end by themselves: only a cancel ends them, as a hung RUN step on a runner. */
  class HangingBuilds implements BuildRunnerClient {
    calls: BuildSnapshot[] = [];
    cancels: string[] = [];
    stopped = false;
    async cancel(_r: RunnerTarget, ref: string): Promise<void> {
      this.cancels.push(ref);
    }
    async build(_r: RunnerTarget, body: BuildSnapshot): Promise<void> {
      this.calls.push(body);
      while (!this.cancels.includes(body.snapshot) && !this.stopped) await new Promise((r) => setTimeout(r, 100));
      throw new RunnerCallError('Build cancelled', 400);
    }
  }

  let db: TestDatabase;
  let fake: FakeRunner;
  let app: ShoalApp;
  let builds: HangingBuilds;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let runnerId: string;

  before(async () => {
    db = await createTestDatabase();
    fake = await new FakeRunner({ token: TOKEN }).start();
    builds = new HangingBuilds();
    const config = loadConfig({
      SHOAL_WARM_POOL_SIZE: '0',
      DATABASE_URL: db.url,
      SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
      SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
      SHOAL_RECONCILE_INTERVAL_MS: '200',
      SHOAL_RUNNER_HEALTH_INTERVAL_MS: '60000',
      SHOAL_CREATE_WAIT_MS: '0',
      SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
      SHOAL_BUILD_TIMEOUT_SECONDS: '3',
    });
    assert.equal(config.buildTimeoutSeconds, 3);
    app = await build({ config, background: true, buildRunner: builds });
    await app.ready();
    runnerId = await registerRunner(app, fake.url, TOKEN);
    tenant = await createTenant(app, 'timeout-tenant');
  });

  after(async () => {
    if (builds) builds.stopped = true;
    await app?.close();
    await fake?.stop();
    await db?.drop();
  });

  test('the setting is parsed once, with a default of 60 minutes, and refuses nonsense', () => {
    const base = { DATABASE_URL: 'postgres://x/y', SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET };
    assert.equal(loadConfig(base).buildTimeoutSeconds, 3600);
    assert.throws(() => loadConfig({ ...base, SHOAL_BUILD_TIMEOUT_SECONDS: '0' }), /SHOAL_BUILD_TIMEOUT_SECONDS/);
    assert.throws(() => loadConfig({ ...base, SHOAL_BUILD_TIMEOUT_SECONDS: 'soon' }), /SHOAL_BUILD_TIMEOUT_SECONDS/);
  });

  test('a build running past the limit ends build_failed as timed out, is cancelled on the runner, and its waiting sandbox errors', async () => {
    const dockerfile = `FROM ${TEST_DEFAULT_IMAGE}\nRUN sleep infinity\n`;
    const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { buildInfo: { dockerfileContent: dockerfile, contextHashes: [] }, env: {}, labels: {} } });
    assert.equal(res.statusCode, 200, res.body);
    const sandboxId = (res.json() as { id: string }).id;
    const t0 = Date.now();
    const sb = await waitFor('the sandbox to settle', async () => {
      const s = (await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}`, headers: tenant.auth })).json() as { state: string; errorReason?: string };
      return !['pending_build', 'building_snapshot'].includes(s.state) && s;
    });
    const elapsed = Date.now() - t0;
    assert.equal(sb.state, 'error');
    assert.equal(sb.errorReason, 'Failed to build the image: Build timed out after 3 seconds');
    assert.ok(elapsed >= 2500, `ended after ${elapsed} ms, before the limit`);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const snap = (await c.query(`SELECT state, error_reason, internal_name, claimed_by FROM snapshot WHERE build_info_snapshot_ref = $1`, [buildRef(dockerfile)])).rows[0] as {
        state: string;
        error_reason: string;
        internal_name: string;
        claimed_by: string | null;
      };
      assert.equal(snap.state, 'build_failed');
      assert.equal(snap.error_reason, 'Build timed out after 3 seconds');
      assert.equal(snap.claimed_by, null);
      assert.deepEqual(builds.calls.map((b) => b.snapshot), [snap.internal_name]);
      // The driver records the failure, then cancels on the runner: the state can be seen first.
      await waitFor('the runner build to be cancelled', async () => builds.cancels.includes(snap.internal_name));
    } finally {
      await c.end();
    }
  });

  test('a build left `building` past its deadline by a dead driver is failed and cancelled as soon as it is claimed', async () => {
    const dockerfile = `FROM ${TEST_DEFAULT_IMAGE}\nRUN echo orphan\n`;
    const ref = buildRef(dockerfile);
    const internal = `127.0.0.1:5100/shoal-${tenant.organizationId}/build-orphan:shoal`;
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(`INSERT INTO build_info (snapshot_ref, dockerfile_content) VALUES ($1, $2)`, [ref, dockerfile]);
      // What a driver that died an hour ago leaves: building on a runner, its lease long expired.
      const { rows } = await c.query(
        `INSERT INTO snapshot (organization_id, name, image_name, internal_name, build_info_snapshot_ref, state, build_runner_id, build_started_at, claimed_by, claim_expires_at, created_at, updated_at)
         VALUES ($1, 'orphan', $2, $3, $2, 'building', $4, now() - interval '1 hour', 'build-dead', now() - interval '59 minutes', now(), now()) RETURNING id`,
        [tenant.organizationId, ref, internal, runnerId],
      );
      const id = (rows[0] as { id: string }).id;
      const calls = builds.calls.length;
      const s = await waitFor('the orphan build to be failed', async () => {
        const r = (await c.query(`SELECT state, error_reason FROM snapshot WHERE id = $1`, [id])).rows[0] as { state: string; error_reason: string };
        return r.state !== 'building' && r;
      });
      assert.equal(s.state, 'build_failed');
      assert.equal(s.error_reason, 'Build timed out after 3 seconds');
      await waitFor('the runner build to be cancelled', async () => builds.cancels.includes(internal));
      assert.equal(builds.calls.length, calls, 'no build call for a build already past its deadline');
    } finally {
      await c.end();
    }
  });
});
