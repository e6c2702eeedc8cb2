// Issue 10 "Readiness" and "Recoverable credentials": GET /api/health/ready says what is missing (503) until the
// default snapshot is on a healthy runner (200); a create of the default snapshot during the build answers a 503 that
// names the build and leaves no sandbox behind; the one key minter adds admin keys that work next to the old one.
// Real PostgreSQL, Fastify inject, the fake runner for health, a probe the test controls for the runner's image.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { build, type ShoalApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { adminOrganizationId, apiKeyExists, mintAdminApiKey, writeCredentials } from '../src/db/admin-key.js';
import type { ReadinessReport, SnapshotProbe } from '../src/services/readiness.service.js';
import { createTestDatabase, TEST_ADMIN_KEY, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'readiness-fake-runner-token-0123456789';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
/** What the runner holds, as the probe reports it; the test flips it to end the "build". */
const image = { present: false, log: '2026-12-01T08:00:00.000Z [default-image] debootstrap (12.0 s)' as string | undefined, probes: 0, unanswered: false };
const probe: SnapshotProbe = {
  exists: async (_r, ref) => {
    image.probes++;
    if (image.unanswered) throw new Error('runner-1.test did not answer within 3000 ms (test)');
    assert.equal(ref, TEST_DEFAULT_IMAGE);
    return image.present;
  },
  lastLogLine: async () => image.log,
};

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
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
  app = await build({ config, snapshotProbe: probe });
  await app.ready();
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

async function ready(): Promise<{ status: number; body: ReadinessReport }> {
  // The negative answer is cached for a second; a test step that changed the world waits it out.
  await new Promise((r) => setTimeout(r, 1100));
  const res = await app.inject({ method: 'GET', url: '/api/health/ready' });
  return { status: res.statusCode, body: res.json<ReadinessReport>() };
}

test('no runner yet: /health is live (200), /health/ready is 503 and names the runner and the snapshot', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/api/health' })).statusCode, 200);
  const r = await ready();
  assert.equal(r.status, 503);
  assert.equal(r.body.status, 'not_ready');
  assert.equal(r.body.checks.database.status, 'up');
  assert.equal(r.body.checks.runners.status, 'down');
  assert.ok(r.body.missing.some((m) => m.startsWith('runners:')), JSON.stringify(r.body.missing));
  assert.ok(r.body.missing.some((m) => m.includes(TEST_DEFAULT_SNAPSHOT)), JSON.stringify(r.body.missing));
});

test('runner healthy, image being built: 503 with build progress; create answers 503 naming the build and creates nothing', async () => {
  await registerRunner(app, runner.url, TOKEN);
  const r = await ready();
  assert.equal(r.status, 503);
  assert.equal(r.body.checks.runners.status, 'up');
  assert.equal(r.body.checks.defaultSnapshot.status, 'down');
  assert.equal(r.body.checks.defaultSnapshot.progress?.phase, '[default-image] debootstrap (12.0 s)');
  assert.equal(r.body.checks.defaultSnapshot.progress?.at, '2026-12-01T08:00:00.000Z');

  const create = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
  assert.equal(create.statusCode, 503, create.body);
  const err = create.json() as { statusCode: number; message: string; error: string };
  assert.equal(err.statusCode, 503);
  assert.match(err.message, /default snapshot shoal\/sandbox:test is still being built \(runner-1\.test: \[default-image\] debootstrap \(12\.0 s\)\); retry when GET \/api\/health\/ready answers 200/);
  const list = await app.inject({ method: 'GET', url: '/api/sandbox', headers: adminAuth });
  assert.deepEqual(list.json(), [], 'the refused create left no sandbox');
  assert.equal(runner.calls.filter((c) => c.method === 'POST' && c.path.startsWith('/sandboxes')).length, 0, 'nothing reached the runner');
});

test('a runner too busy to answer the probe: not ready (named as unanswered), but creates are not refused', async () => {
  image.unanswered = true;
  try {
    const r = await ready();
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.checks.defaultSnapshot.unanswered, ['runner-1.test']);
    const create = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
    assert.equal(create.statusCode, 200, create.body);
    const id = (create.json() as { id: string }).id;
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth })).statusCode, 200);
  } finally {
    image.unanswered = false;
  }
});

test('image present: ready 200 and create succeeds; the positive answer is remembered', async () => {
  image.present = true;
  const r = await ready();
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'ready');
  assert.deepEqual(r.body.missing, []);
  assert.deepEqual(r.body.checks.defaultSnapshot.presentOn, ['runner-1.test']);
  const create = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
  assert.equal(create.statusCode, 200, create.body);
  const probes = image.probes;
  await app.inject({ method: 'GET', url: '/api/health/ready' });
  assert.equal(image.probes, probes, 'a runner that holds the image is not asked again');
});

test('mintAdminApiKey: a new admin key works, the old one keeps working, names are unique, credentials.json is atomic 0600', async () => {
  const pool = new pg.Pool({ connectionString: db.url });
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cred-'));
  try {
    const org = await adminOrganizationId(pool);
    assert.ok(org);
    const key = await mintAdminApiKey(pool, org, { name: 'admin-recovered-1' });
    assert.match(key, /^dtn_[0-9a-f]{64}$/);
    assert.ok(await apiKeyExists(pool, key));
    const stored = await pool.query(`SELECT key_hash FROM api_key WHERE name = 'admin-recovered-1'`);
    assert.notEqual(stored.rows[0].key_hash, key, 'only the hash is stored');
    for (const auth of [`Bearer ${key}`, `Bearer ${TEST_ADMIN_KEY}`]) {
      const res = await app.inject({ method: 'GET', url: '/api/api-keys/current', headers: { authorization: auth } });
      assert.equal(res.statusCode, 200, `${auth.slice(0, 14)}: ${res.body}`);
    }
    await assert.rejects(mintAdminApiKey(pool, org, { name: 'admin-recovered-1' }), /already exists/);
    const replaced = await mintAdminApiKey(pool, org, { name: 'admin-recovered-1', replace: true });
    assert.equal(await apiKeyExists(pool, key), false, 'replace revokes the previous key of that name');
    assert.ok(await apiKeyExists(pool, replaced));

    const file = await writeCredentials(dir, 'http://127.0.0.1:3000', replaced);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { apiUrl: 'http://127.0.0.1:3000/api', apiKey: replaced });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  } finally {
    await pool.end();
    await rm(dir, { recursive: true, force: true });
  }
});
