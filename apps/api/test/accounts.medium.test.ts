import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { applyMigrations, withMigrationLock } from '../src/db/migrate.js';
import { bootstrap, writeCredentials } from '../src/db/bootstrap.js';
import { createTestDatabase, TEST_ADMIN_KEY, TEST_DEFAULT_SNAPSHOT, type TestDatabase } from './helpers/database.js';
import { adminAuth, sshGatewayAuth, buildTestApp, createTenant, registerRunner, retireRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

let db: TestDatabase;
let app: ShoalApp;
let tenant: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false });
  tenant = await createTenant(app, 'accounts-tenant');
});

after(async () => {
  await app?.close();
  await db?.drop();
});

function expectError(res: { statusCode: number; json: () => unknown }, status: number, message?: RegExp): void {
  assert.equal(res.statusCode, status);
  const b = res.json() as { statusCode: number; message: string; error: string };
  assert.equal(b.statusCode, status);
  if (message) assert.match(String(b.message), message);
}

describe('system', () => {
  test('health checks the database; config is public', async () => {
    assert.deepEqual((await app.inject({ method: 'GET', url: '/api/health' })).json(), {
      status: 'ok',
      info: { database: { status: 'up' } },
      error: {},
      details: { database: { status: 'up' } },
    });
    const c = (await app.inject({ method: 'GET', url: '/api/config' })).json() as Record<string, unknown> & { defaultSnapshot: string; proxyTemplateUrl: string; maxAutoArchiveInterval: number };
    assert.equal(c.defaultSnapshot, TEST_DEFAULT_SNAPSHOT);
    // No issuer configured: no oidc block and no empty placeholder anywhere (issue 17 item 6).
    assert.equal('oidc' in c, false);
    const empties = Object.entries(c).filter(([, v]) => v === '').map(([k]) => k);
    assert.deepEqual(empties, []);
    assert.equal(c.proxyTemplateUrl, 'http://127.0.0.1:3000/preview/{{PORT}}-{{sandboxId}}');
    assert.equal(c.maxAutoArchiveInterval, 43200);
  });

  test('unknown routes are 404 envelopes; OpenAPI carries the reference operation ids', async () => {
    expectError(await app.inject({ method: 'GET', url: '/api/does-not-exist' }), 404, /Cannot GET \/api\/does-not-exist/);
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, { operationId: string }>> };
    const ids = new Set(Object.values(doc.paths).flatMap((m) => Object.values(m).map((o) => o.operationId)));
    for (const id of ['createSandbox', 'getSandbox', 'listSandboxesPaginated', 'startSandbox', 'stopSandbox', 'deleteSandbox', 'createApiKey', 'createRunner', 'getWorkspaceDeprecated']) {
      assert.ok(ids.has(id), `missing ${id}`);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/docs/' })).statusCode, 200);
  });
});

describe('users and organizations', () => {
  test('users/me identifies the caller; creating users is admin only', async () => {
    assert.equal(((await app.inject({ method: 'GET', url: '/api/users/me', headers: tenant.auth })).json() as { id: string }).id, 'accounts-tenant');
    expectError(await app.inject({ method: 'GET', url: '/api/users/me' }), 401);
    expectError(await app.inject({ method: 'POST', url: '/api/users', headers: tenant.auth, payload: { name: 'x' } }), 403);
    expectError(await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: { id: 'accounts-tenant', name: 'dup' } }), 409);
    expectError(await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: {} }), 400, /body\.name/);
  });

  test('organizations: own visible, others 404, usage counts', async () => {
    const list = (await app.inject({ method: 'GET', url: '/api/organizations', headers: tenant.auth })).json() as { id: string; personal: boolean }[];
    assert.deepEqual(list.map((o) => [o.id, o.personal]), [[tenant.organizationId, true]]);
    assert.equal((await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}`, headers: tenant.auth })).statusCode, 200);
    const adminOrg = ((await app.inject({ method: 'GET', url: '/api/organizations', headers: adminAuth })).json() as { id: string }[])[0]!.id;
    expectError(await app.inject({ method: 'GET', url: `/api/organizations/${adminOrg}`, headers: tenant.auth }), 404);
    expectError(await app.inject({ method: 'GET', url: `/api/organizations/${adminOrg}/usage`, headers: tenant.auth }), 404);
    const usage = (await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}/usage`, headers: tenant.auth })).json() as Record<string, number>;
    assert.deepEqual([usage.currentCpuUsage, usage.totalCpuQuota, usage.totalDiskQuota], [0, 10, 30]);
    expectError(await app.inject({ method: 'PATCH', url: `/api/organizations/${tenant.organizationId}/quota`, headers: adminAuth, payload: { totalCpuQuota: -1 } }), 400);
  });
});

describe('api keys', () => {
  test('create shows the key once; list masks it; current, get and delete; duplicates 409', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name: 'ci', permissions: ['write:sandboxes'] } });
    assert.equal(created.statusCode, 201);
    const key = created.json() as { value: string; name: string; permissions: string[] };
    assert.match(key.value, /^dtn_[0-9a-f]{64}$/);
    expectError(await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name: 'ci', permissions: ['write:sandboxes'] } }), 409, /already exists/);
    const list = (await app.inject({ method: 'GET', url: '/api/api-keys', headers: tenant.auth })).json() as { name: string; value: string }[];
    const ci = list.find((k) => k.name === 'ci')!;
    assert.equal(ci.value, `dtn${'*'.repeat(20)}${key.value.slice(-3)}`);
    const auth = { authorization: `Bearer ${key.value}` };
    const current = (await app.inject({ method: 'GET', url: '/api/api-keys/current', headers: auth })).json() as { name: string; organizationId: string };
    assert.equal(current.name, 'ci');
    // The key's organization, named (the dashboard reads it): the tenant's, not the admin's.
    assert.equal(current.organizationId, tenant.organizationId);
    const adminKeyOrg = ((await app.inject({ method: 'GET', url: '/api/api-keys/current', headers: adminAuth })).json() as { organizationId: string }).organizationId;
    assert.notEqual(adminKeyOrg, tenant.organizationId);
    const adminOrgs = (await app.inject({ method: 'GET', url: '/api/organizations', headers: adminAuth })).json() as { id: string }[];
    assert.ok(adminOrgs.some((o) => o.id === adminKeyOrg), 'the admin key names one of its organizations');
    assert.equal((await app.inject({ method: 'GET', url: '/api/api-keys/ci', headers: tenant.auth })).statusCode, 200);
    expectError(await app.inject({ method: 'GET', url: '/api/api-keys/nope', headers: tenant.auth }), 404);
    // The narrower key cannot mint a wider one.
    expectError(await app.inject({ method: 'POST', url: '/api/api-keys', headers: auth, payload: { name: 'wide', permissions: ['delete:sandboxes'] } }), 403, /Insufficient permissions for assigning: delete:sandboxes/);
    expectError(await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name: 'bad', permissions: ['root'] } }), 400, /permissions/);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/api-keys/ci', headers: tenant.auth })).statusCode, 204);
    expectError(await app.inject({ method: 'GET', url: '/api/users/me', headers: auth }), 401);
  });

  test('expired keys are refused; lastUsedAt is recorded', async () => {
    const soon = new Date(Date.now() + 1500).toISOString();
    const key = (await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name: 'short', permissions: ['write:sandboxes'], expiresAt: soon } })).json() as { value: string };
    const auth = { authorization: `Bearer ${key.value}` };
    assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: auth })).statusCode, 200);
    await new Promise((r) => setTimeout(r, 1600));
    expectError(await app.inject({ method: 'GET', url: '/api/users/me', headers: auth }), 401, /expired/);
    const listed = (await app.inject({ method: 'GET', url: '/api/api-keys/short', headers: tenant.auth })).json() as { lastUsedAt: string | null };
    assert.ok(listed.lastUsedAt);
    expectError(await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name: 'past', permissions: ['write:sandboxes'], expiresAt: '2000-01-01T00:00:00Z' } }), 400, /future/);
  });
});

describe('snapshots', () => {
  test('default snapshot listed and found by name; unknown 404', async () => {
    const page = (await app.inject({ method: 'GET', url: '/api/snapshots?page=1&limit=10', headers: tenant.auth })).json() as { items: { name: string; size: null; errorReason: null; lastUsedAt: unknown }[]; total: number };
    assert.equal(page.total, 1);
    assert.equal(page.items[0]!.name, TEST_DEFAULT_SNAPSHOT);
    assert.ok('size' in page.items[0]! && 'errorReason' in page.items[0]! && 'lastUsedAt' in page.items[0]!);
    const byName = await app.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(TEST_DEFAULT_SNAPSHOT)}`, headers: tenant.auth });
    assert.equal(byName.statusCode, 200);
    expectError(await app.inject({ method: 'GET', url: '/api/snapshots/nope', headers: tenant.auth }), 404);
    expectError(await app.inject({ method: 'GET', url: '/api/snapshots' }), 401);
  });
});

describe('runners', () => {
  test('registration is admin only, idempotent by domain, and health checks mark it ready', async () => {
    const fake = await new FakeRunner({ token: 'accounts-runner-token-1' }).start();
    try {
      const body = { domain: 'r.test', apiUrl: fake.url, proxyUrl: fake.url, apiKey: 'accounts-runner-token-1', cpu: 4, memoryGiB: 8, diskGiB: 50 };
      expectError(await app.inject({ method: 'POST', url: '/api/runners', headers: tenant.auth, payload: body }), 403);
      expectError(await app.inject({ method: 'POST', url: '/api/runners', headers: adminAuth, payload: { ...body, cpu: 0 } }), 400, /body\.cpu/);
      const first = await app.inject({ method: 'POST', url: '/api/runners', headers: adminAuth, payload: body });
      assert.equal(first.statusCode, 201);
      const r = first.json() as { id: string; state: string; memory: number; currentCpuUsagePercentage: number };
      assert.equal(r.state, 'ready');
      assert.equal(r.memory, 8);
      assert.equal(r.currentCpuUsagePercentage, 1);
      const again = await app.inject({ method: 'POST', url: '/api/runners', headers: adminAuth, payload: { ...body, cpu: 6 } });
      assert.equal(again.statusCode, 200);
      assert.equal((again.json() as { id: string; cpu: number }).id, r.id);
      assert.equal((again.json() as { cpu: number }).cpu, 6);
      const sched = await app.inject({ method: 'PATCH', url: `/api/runners/${r.id}/scheduling`, headers: adminAuth, payload: { unschedulable: true } });
      assert.equal((sched.json() as { unschedulable: boolean }).unschedulable, true);
      expectError(await app.inject({ method: 'PATCH', url: '/api/runners/00000000-0000-0000-0000-000000000000/scheduling', headers: adminAuth, payload: { unschedulable: true } }), 404);
      const byRef = (await app.inject({ method: 'GET', url: '/api/runners/by-snapshot-ref?ref=x', headers: adminAuth })).json() as { runnerId: string }[];
      assert.ok(byRef.some((x) => x.runnerId === r.id));
      expectError(await app.inject({ method: 'GET', url: '/api/runners', headers: tenant.auth }), 403);
    } finally {
      await fake.stop();
    }
  });

  test('an unreachable runner is marked unresponsive and never scheduled', async () => {
    await app.inject({ method: 'POST', url: '/api/runners', headers: adminAuth, payload: { domain: 'dead.test', apiUrl: 'http://127.0.0.1:9', proxyUrl: 'http://127.0.0.1:9', apiKey: 'dead-runner-token-abcdef', cpu: 4, memoryGiB: 8, diskGiB: 50 } });
    const all = (await app.inject({ method: 'GET', url: '/api/runners', headers: adminAuth })).json() as { domain: string; state: string }[];
    assert.equal(all.find((r) => r.domain === 'dead.test')!.state, 'unresponsive');
    // The only other runner is unschedulable, so create must fail rather than pick the dead one.
    expectError(await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} }), 400, /No available runners/);
  });
});

test('bootstrap under the advisory lock: concurrent first starts create one admin; credentials file is 0600', async () => {
  const fresh = await createTestDatabase();
  const base = new URL(fresh.url);
  const name = `${base.pathname.slice(1)}_boot`;
  const admin = new pg.Client({ connectionString: fresh.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  base.pathname = `/${name}`;
  const pools = [new pg.Pool({ connectionString: base.toString(), max: 2 }), new pg.Pool({ connectionString: base.toString(), max: 2 })];
  const dir = await mkdtemp(join(tmpdir(), 'shoal-creds-'));
  try {
    const cfg = { adminApiKey: undefined, defaultSnapshot: 'snap', defaultSnapshotImage: 'img', publicUrl: 'http://h:1', dataDir: dir };
    const results = await Promise.all(pools.map((p) => withMigrationLock(p, async (c) => (await applyMigrations(c), bootstrap(c, cfg)))));
    assert.equal(results.filter((r) => r.adminApiKey).length, 1, 'exactly one start created the admin');
    const key = results.find((r) => r.adminApiKey)!.adminApiKey!;
    const again = await withMigrationLock(pools[0]!, (c) => bootstrap(c, cfg));
    assert.equal(again.adminApiKey, undefined, 'later starts keep the key');
    const counts = await pools[0]!.query(`SELECT (SELECT count(*) FROM "user")::int AS users, (SELECT count(*) FROM api_key)::int AS keys, (SELECT count(*) FROM snapshot)::int AS snaps`);
    assert.deepEqual(counts.rows[0], { users: 1, keys: 1, snaps: 1 });
    const file = await writeCredentials(dir, 'http://h:1', key);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { apiUrl: 'http://h:1/api', apiKey: key });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.notEqual(key, TEST_ADMIN_KEY);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    const c = new pg.Client({ connectionString: fresh.url });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.end();
    await fresh.drop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a runner token only works on runner routes', async () => {
  const fake = await new FakeRunner({ token: 'scoped-runner-token-123' }).start();
  let runnerId: string | undefined;
  try {
    runnerId = await registerRunner(app, fake.url, 'scoped-runner-token-123', 'scoped.test');
    const runnerAuth = { authorization: 'Bearer scoped-runner-token-123' };
    expectError(await app.inject({ method: 'GET', url: '/api/sandbox/paginated', headers: runnerAuth }), 403);
    expectError(await app.inject({ method: 'POST', url: '/api/sandbox', headers: runnerAuth, payload: {} }), 403);
    assert.equal((await app.inject({ method: 'GET', url: '/api/sandbox/for-runner', headers: runnerAuth })).statusCode, 200);
  } finally {
    if (runnerId) await retireRunner(app, runnerId);
    await fake.stop();
  }
});

test('values the database cannot hold are 4xx, never 500', async () => {
  const fake = await new FakeRunner({ token: 'overflow-runner-token-1' }).start();
  let runnerId: string | undefined;
  try {
    runnerId = await registerRunner(app, fake.url, 'overflow-runner-token-1', 'overflow.test');
    // Same token under another domain collides with the unique runner token.
    expectError(
      await app.inject({ method: 'POST', url: '/api/runners', headers: adminAuth, payload: { domain: 'other.test', apiUrl: fake.url, proxyUrl: fake.url, apiKey: 'overflow-runner-token-1', cpu: 1, memoryGiB: 1, diskGiB: 1 } }),
      409,
    );
    const sb = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
    const id = (sb.json() as { id: string }).id;
    expectError(await app.inject({ method: 'POST', url: `/api/sandbox/${id}/autodelete/99999999999`, headers: adminAuth }), 400);
  } finally {
    if (runnerId) await retireRunner(app, runnerId);
    await fake.stop();
  }
});

test('every operation that needs a key answers 401 in the envelope without one (walked from the OpenAPI document)', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as {
    paths: Record<string, Record<string, { security?: unknown[]; operationId: string }>>;
  };
  let checked = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!op.security) continue;
      const url = path.replace(/\{[^}]+\}/g, '00000000-0000-0000-0000-000000000000');
      const res = await app.inject({ method: method.toUpperCase() as 'GET', url, headers: { authorization: 'Bearer dtn_wrong' } });
      assert.equal(res.statusCode, 401, `${method.toUpperCase()} ${path} (${op.operationId}) answered ${res.statusCode}`);
      assert.equal((res.json() as { statusCode: number }).statusCode, 401);
      checked++;
    }
  }
  assert.ok(checked >= 55, `only ${checked} operations checked`);
});

test('admin user routes, key deletion for a user, runner by sandbox, build logs', async () => {
  const users = (await app.inject({ method: 'GET', url: '/api/users', headers: adminAuth })).json() as { id: string }[];
  assert.ok(users.some((u) => u.id === 'accounts-tenant'));
  assert.equal(((await app.inject({ method: 'GET', url: '/api/users/accounts-tenant', headers: adminAuth })).json() as { id: string }).id, 'accounts-tenant');
  expectError(await app.inject({ method: 'GET', url: '/api/users/nobody', headers: adminAuth }), 404);
  expectError(await app.inject({ method: 'GET', url: '/api/users', headers: tenant.auth }), 403);

  await app.inject({ method: 'POST', url: '/api/api-keys', headers: tenant.auth, payload: { name: 'tmp', permissions: ['write:sandboxes'] } });
  // The tenant owns its organization, so it may delete any key there; this user simply has none.
  expectError(await app.inject({ method: 'DELETE', url: '/api/api-keys/someone-else/tmp', headers: tenant.auth }), 404);
  assert.equal((await app.inject({ method: 'DELETE', url: '/api/api-keys/accounts-tenant/tmp', headers: tenant.auth })).statusCode, 204);
  expectError(await app.inject({ method: 'DELETE', url: '/api/api-keys/accounts-tenant/tmp', headers: tenant.auth }), 404);

  const fake = await new FakeRunner({ token: 'by-sandbox-runner-token' }).start();
  let runnerId: string | undefined;
  try {
    runnerId = await registerRunner(app, fake.url, 'by-sandbox-runner-token', 'by-sandbox.test');
    const t2 = await createTenant(app, 'accounts-tenant-2');
    const sb = (await app.inject({ method: 'POST', url: '/api/sandbox', headers: t2.auth, payload: {} })).json() as { id: string; runnerDomain: string };
    const r = (await app.inject({ method: 'GET', url: `/api/runners/by-sandbox/${sb.id}`, headers: adminAuth })).json() as { domain: string };
    assert.equal(r.domain, sb.runnerDomain);
    expectError(await app.inject({ method: 'GET', url: `/api/runners/by-sandbox/${sb.id}`, headers: t2.auth }), 403);
    const logs = await app.inject({ method: 'GET', url: `/api/sandbox/${sb.id}/build-logs?follow=true`, headers: t2.auth });
    assert.equal(logs.statusCode, 200);
    assert.match(String(logs.headers['content-type']), /text\/plain/);
    expectError(await app.inject({ method: 'GET', url: `/api/sandbox/${sb.id}/build-logs`, headers: tenant.auth }), 404);
    expectError(await app.inject({ method: 'GET', url: '/api/sandbox/ssh-access/validate', headers: sshGatewayAuth }), 400, /token/);
  } finally {
    if (runnerId) await retireRunner(app, runnerId);
    await fake.stop();
  }
});
