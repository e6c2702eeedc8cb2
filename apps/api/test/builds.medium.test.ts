import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { BuildSnapshot } from '@shoal/contracts';
import { build, type ShoalApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { RunnerTarget } from '../src/reconciler/runner-client.js';
import { RunnerCallError } from '../src/reconciler/runner-client.js';
import { buildRef, type BuildRunnerClient } from '../src/services/build.service.js';
import { createTestDatabase, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * The buildInfo pipeline (issue 11 scope 4) against real PostgreSQL, the fake runner for sandbox lifecycles and a fake
 * build endpoint: dedupe of identical builds, the sandbox states the SDK waits through (pending_build ->
 * building_snapshot -> started, or error with the failing step), the followed build log, and snapshot creates from
 * buildInfo (build_pending -> building -> active | build_failed).
 */

const TOKEN = 'builds-fake-runner-token';

class FakeBuilds implements BuildRunnerClient {
  calls: BuildSnapshot[] = [];
  /** A build whose Dockerfile contains this fails with the runner's reason. */
  failOn = 'exit 3';
  constructor(private readonly runner: FakeRunner) {}
  cancels: string[] = [];
  async cancel(_r: RunnerTarget, ref: string): Promise<void> {
    this.cancels.push(ref);
  }
  async build(_r: RunnerTarget, body: BuildSnapshot): Promise<void> {
    this.calls.push(body);
    if (body.dockerfile.includes('slow-build')) {
      // Runs until the runner is told to cancel it, as a long RUN would.
      for (let i = 0; i < 300 && !this.cancels.includes(body.snapshot); i++) await new Promise((r) => setTimeout(r, 100));
      if (this.cancels.includes(body.snapshot)) throw new RunnerCallError('Build cancelled', 400);
      return;
    }
    for (const line of ['STEP 1/2: FROM base', 'STEP 2/2: RUN echo hi', 'hi']) {
      this.runner.pullLogs.set(body.snapshot, (this.runner.pullLogs.get(body.snapshot) ?? '') + `${line}\n`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (body.dockerfile.includes(this.failOn)) throw new RunnerCallError('RUN exit 3: exit status 3', 400);
  }
}

let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let builds: FakeBuilds;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let other: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  builds = new FakeBuilds(runner);
  const config = loadConfig({
    SHOAL_WARM_POOL_SIZE: '0',
    DATABASE_URL: db.url,
    SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
    SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
    SHOAL_RECONCILE_INTERVAL_MS: '200',
    SHOAL_RUNNER_HEALTH_INTERVAL_MS: '60000',
    SHOAL_CREATE_WAIT_MS: '10000',
    SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
  });
  app = await build({ config, background: true, buildRunner: builds });
  await app.ready();
  await registerRunner(app, runner.url, TOKEN);
  tenant = await createTenant(app, 'build-tenant');
  other = await createTenant(app, 'build-other');
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

type Sb = { id: string; state: string; errorReason?: string | null; snapshot?: string };

async function createSandbox(auth: { authorization: string }, dockerfileContent: string, contextHashes: string[] = []) {
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: auth, payload: { buildInfo: { dockerfileContent, contextHashes }, env: {}, labels: {} } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as Sb;
}

async function waitSandbox(auth: { authorization: string }, id: string, states: string[], timeoutMs = 90_000): Promise<{ sb: Sb; seen: string[] }> {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const sb = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: auth })).json() as Sb;
    if (seen.at(-1) !== sb.state) seen.push(sb.state);
    if (states.includes(sb.state)) return { sb, seen };
    if (Date.now() > deadline) assert.fail(`sandbox ${id} never reached ${states.join('|')}; went through ${seen.join(' -> ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the build key ignores the order of context hashes and changes with the Dockerfile or a context', () => {
  assert.equal(buildRef('FROM a\n', ['h1', 'h2']), buildRef('FROM a\n', ['h2', 'h1']));
  assert.notEqual(buildRef('FROM a\n', ['h1']), buildRef('FROM a\n', ['h2']));
  assert.notEqual(buildRef('FROM a\n'), buildRef('FROM b\n'));
  assert.match(buildRef('FROM a\n'), /^shoal-[0-9a-f]{64}:shoal$/);
});

describe('sandbox create with buildInfo', () => {
  const dockerfile = `FROM ${TEST_DEFAULT_IMAGE}\nRUN echo hi > /built.txt\nWORKDIR /work\nENV A=1\n`;

  test('answers pending_build, goes building_snapshot -> started, streams the build log until started; the image is the built one', async () => {
    const before = builds.calls.length;
    const sb = await createSandbox(tenant.auth, dockerfile, ['ctx-b', 'ctx-a']);
    assert.equal(sb.state, 'pending_build');
    const logs = await app.inject({ method: 'GET', url: `/api/sandbox/${sb.id}/build-logs?follow=true`, headers: tenant.auth });
    assert.equal(logs.statusCode, 200);
    assert.match(logs.body, /STEP 1\/2: FROM base\nSTEP 2\/2: RUN echo hi\nhi\n/);
    // The followed log ended only once the sandbox had settled.
    const after = (await app.inject({ method: 'GET', url: `/api/sandbox/${sb.id}`, headers: tenant.auth })).json() as Sb;
    assert.equal(after.state, 'started');
    assert.equal(builds.calls.length, before + 1);
    const call = builds.calls.at(-1)!;
    assert.equal(call.dockerfile, dockerfile);
    assert.deepEqual(call.context, ['ctx-b', 'ctx-a']);
    assert.equal(call.organizationId, tenant.organizationId);
    assert.match(call.snapshot, new RegExp(`/shoal-${tenant.organizationId}/build-[0-9a-f]{64}:shoal$`));
  });

  test('answers pending_build even when the build driver moved the sandbox on before the answer was written', async () => {
    // The driver polls for a waiting sandbox every 500 ms; one poll landing between the create's insert and its answer
    // once made the answer say building_snapshot, and the SDK then streamed no build log (CI). A trigger makes that
    // move happen right after the insert, every time.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`CREATE FUNCTION test_driver_moves_first() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE sandbox SET state = 'building_snapshot' WHERE id = NEW.id AND state = 'pending_build'; RETURN NULL; END $$`);
      await client.query('CREATE TRIGGER test_driver_moves_first AFTER INSERT ON sandbox FOR EACH ROW EXECUTE FUNCTION test_driver_moves_first()');
      const sb = await createSandbox(tenant.auth, `${dockerfile}RUN echo raced\n`);
      assert.equal(sb.state, 'pending_build');
      await client.query('DROP TRIGGER test_driver_moves_first ON sandbox');
      await waitSandbox(tenant.auth, sb.id, ['started']);
    } finally {
      await client.query('DROP TRIGGER IF EXISTS test_driver_moves_first ON sandbox');
      await client.query('DROP FUNCTION IF EXISTS test_driver_moves_first()');
      await client.end();
    }
  });

  test('a second identical create (contexts in another order) reuses the snapshot: no rebuild, started at once', async () => {
    const before = builds.calls.length;
    const t0 = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: '/api/sandbox',
      headers: tenant.auth,
      payload: { buildInfo: { dockerfileContent: dockerfile, contextHashes: ['ctx-a', 'ctx-b'] }, env: {}, labels: {} },
    });
    assert.equal(res.statusCode, 200, res.body);
    const sb = res.json() as Sb;
    assert.equal(sb.state, 'started');
    assert.equal(builds.calls.length, before, 'no second build');
    assert.ok(Date.now() - t0 < 5000);
  });

  test('another organization with the same buildInfo gets its own build (never another tenant image)', async () => {
    const before = builds.calls.length;
    const sb = await createSandbox(other.auth, dockerfile, ['ctx-a', 'ctx-b']);
    await waitSandbox(other.auth, sb.id, ['started']);
    assert.equal(builds.calls.length, before + 1);
    assert.match(builds.calls.at(-1)!.snapshot, new RegExp(`/shoal-${other.organizationId}/`));
  });

  test('a failing step makes the sandbox error with the step and its exit status', async () => {
    const sb = await createSandbox(tenant.auth, `FROM ${TEST_DEFAULT_IMAGE}\nRUN exit 3\n`);
    const { sb: end, seen } = await waitSandbox(tenant.auth, sb.id, ['error', 'started']);
    assert.equal(end.state, 'error', seen.join(' -> '));
    assert.match(end.errorReason ?? '', /RUN exit 3: exit status 3/);
    assert.ok(seen.includes('building_snapshot') || seen[0] === 'pending_build', seen.join(' -> '));
  });
});

test('a create with buildInfo refused for quota leaves no build snapshot behind and starts no build', async () => {
  const poor = await createTenant(app, 'build-no-quota');
  const q = await app.inject({ method: 'PATCH', url: `/api/organizations/${poor.organizationId}/quota`, headers: adminAuth, payload: { totalCpuQuota: 0 } });
  assert.equal(q.statusCode, 200, q.body);
  const before = builds.calls.length;
  const res = await app.inject({
    method: 'POST',
    url: '/api/sandbox',
    headers: poor.auth,
    payload: { buildInfo: { dockerfileContent: `FROM ${TEST_DEFAULT_IMAGE}\nRUN echo refused\n`, contextHashes: [] }, env: {}, labels: {} },
  });
  assert.equal(res.statusCode, 403, res.body);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT count(*)::int AS n FROM snapshot WHERE organization_id = $1', [poor.organizationId]);
    assert.equal(rows[0].n, 0, 'the refused create left a snapshot');
  } finally {
    await client.end();
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(builds.calls.length, before, 'no build ran for a refused create');
});

describe('snapshot create with buildInfo', () => {
  type Snap = { id: string; name: string; state: string; errorReason: string | null };
  const get = async (name: string) => (await app.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(name)}`, headers: tenant.auth })).json() as Snap;
  async function waitSnap(name: string, states: string[]): Promise<{ s: Snap; seen: string[] }> {
    const seen: string[] = [];
    const deadline = Date.now() + 90_000;
    for (;;) {
      const s = await get(name);
      if (seen.at(-1) !== s.state) seen.push(s.state);
      if (states.includes(s.state)) return { s, seen };
      if (Date.now() > deadline) assert.fail(`snapshot ${name} never reached ${states.join('|')}; went through ${seen.join(' -> ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  test('build_pending -> building -> active; the same build under another name is active without a rebuild', async () => {
    const dockerfile = `FROM ${TEST_DEFAULT_IMAGE}\nRUN echo snapshot\n`;
    const res = await app.inject({ method: 'POST', url: '/api/snapshots', headers: tenant.auth, payload: { name: 'built-1', buildInfo: { dockerfileContent: dockerfile, contextHashes: [] } } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as Snap).state, 'build_pending');
    const { seen } = await waitSnap('built-1', ['active', 'build_failed', 'error']);
    assert.deepEqual(seen.slice(-1), ['active']);
    const before = builds.calls.length;
    const again = await app.inject({ method: 'POST', url: '/api/snapshots', headers: tenant.auth, payload: { name: 'built-2', buildInfo: { dockerfileContent: dockerfile, contextHashes: [] } } });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal((again.json() as Snap).state, 'active');
    assert.equal(builds.calls.length, before);
  });

  test('a failing build ends build_failed with the step in errorReason', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/snapshots',
      headers: tenant.auth,
      payload: { name: 'built-fail', buildInfo: { dockerfileContent: `FROM ${TEST_DEFAULT_IMAGE}\nRUN exit 3\n# snapshot`, contextHashes: [] } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const { s } = await waitSnap('built-fail', ['build_failed', 'active']);
    assert.equal(s.state, 'build_failed');
    assert.match(s.errorReason ?? '', /RUN exit 3: exit status 3/);
  });
});

test("a build's RUN steps get the organization's egress policy: limited egress when the organization has it, open otherwise", async () => {
  const set = (organizationId: string, on: boolean) =>
    app.inject({
      method: 'POST',
      url: `/api/organizations/${organizationId}/sandbox-default-limited-network-egress`,
      headers: adminAuth,
      payload: { sandboxDefaultLimitedNetworkEgress: on },
    });
  assert.equal((await set(other.organizationId, true)).statusCode, 204);
  try {
    const dockerfile = `FROM ${TEST_DEFAULT_IMAGE}\nRUN echo egress-policy\n`;
    for (const t of [other, tenant]) {
      const res = await app.inject({ method: 'POST', url: '/api/snapshots', headers: t.auth, payload: { name: 'egress-policy', buildInfo: { dockerfileContent: dockerfile, contextHashes: [] } } });
      assert.equal(res.statusCode, 200, res.body);
    }
    const callsOf = (orgId: string) => builds.calls.filter((c) => c.organizationId === orgId && c.dockerfile === dockerfile);
    const deadline = Date.now() + 30_000;
    while ((callsOf(other.organizationId).length === 0 || callsOf(tenant.organizationId).length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(callsOf(other.organizationId).map((c) => c.network), [{ limitedEgress: true }]);
    assert.deepEqual(callsOf(tenant.organizationId).map((c) => c.network), [{ limitedEgress: false }]);
  } finally {
    await set(other.organizationId, false);
  }
});

describe('cancel', () => {
  test('deleting the only sandbox waiting on a build cancels the build on the runner', async () => {
    const sb = await createSandbox(tenant.auth, `FROM ${TEST_DEFAULT_IMAGE}\nRUN slow-build-sandbox\n`);
    await waitSandbox(tenant.auth, sb.id, ['building_snapshot']);
    // The state turns building_snapshot before the runner is called, so the call is awaited by its Dockerfile:
    // the last call at that instant can still be an earlier test's build.
    const callDeadline = Date.now() + 15_000;
    const slowCall = () => builds.calls.find((c) => c.dockerfile.includes('slow-build-sandbox'));
    while (!slowCall() && Date.now() < callDeadline) await new Promise((r) => setTimeout(r, 50));
    const call = slowCall();
    assert.ok(call, 'the runner was asked to build');
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${sb.id}`, headers: tenant.auth })).statusCode, 200);
    const deadline = Date.now() + 15_000;
    while (!builds.cancels.includes(call.snapshot) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(builds.cancels.includes(call.snapshot), 'the runner was told to cancel the build');
  });

  test('deleting a snapshot while it builds cancels its build', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/snapshots',
      headers: tenant.auth,
      payload: { name: 'built-slow', buildInfo: { dockerfileContent: `FROM ${TEST_DEFAULT_IMAGE}\nRUN slow-build-snapshot\n`, contextHashes: [] } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const id = (res.json() as { id: string }).id;
    const deadline = Date.now() + 15_000;
    while (!builds.calls.some((c) => c.dockerfile.includes('slow-build-snapshot')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const call = builds.calls.find((c) => c.dockerfile.includes('slow-build-snapshot'))!;
    assert.ok(call, 'the build started');
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/snapshots/${id}`, headers: tenant.auth })).statusCode, 200);
    while (!builds.cancels.includes(call.snapshot) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(builds.cancels.includes(call.snapshot), 'the runner was told to cancel the build');
  });
});
