import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createDb, createPool } from '../src/db/database.js';
import { HttpSnapshotRunnerClient } from '../src/reconciler/snapshot-manager.js';
import { SnapshotLifecycle } from '../src/reconciler/snapshot-lifecycle.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * A suspension left in force past its cleanup grace period stops the organization's running sandboxes and deactivates
 * its snapshots (the reference's cron); within the grace period, after `until`, or for other organizations nothing
 * moves. The test ages suspended_at instead of waiting hours.
 */

const TOKEN = 'suspension-cleanup-runner-token';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let sql: pg.Client;
let pool: pg.Pool;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url, { env: { SHOAL_AUTO_TRANSITION_INTERVAL_MS: '200' } });
  await registerRunner(app, runner.url, TOKEN);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  pool = createPool(db.url, 2);
});

after(async () => {
  await sql?.end();
  await pool?.end();
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

type Tenant = Awaited<ReturnType<typeof createTenant>>;

async function sandbox(t: Tenant): Promise<string> {
  const r = await app.inject({ method: 'POST', url: '/api/sandbox', headers: t.auth, payload: {} });
  assert.equal(r.statusCode, 200, r.body);
  return (r.json() as { id: string }).id;
}

async function suspend(t: Tenant, body: object, suspendedHoursAgo: number): Promise<void> {
  const r = await app.inject({ method: 'POST', url: `/api/organizations/${t.organizationId}/suspend`, headers: adminAuth, payload: body });
  assert.ok(r.statusCode < 300, r.body);
  await sql.query(`UPDATE organization SET suspended_at = now() - $2 * interval '1 hour' WHERE id = $1`, [t.organizationId, suspendedHoursAgo]);
}

async function activeSnapshot(t: Tenant, name: string): Promise<string> {
  const r = await sql.query<{ id: string }>(`INSERT INTO snapshot (organization_id, name, image_name, internal_name, state) VALUES ($1, $2, 'busybox:1', $2, 'active') RETURNING id`, [t.organizationId, name]);
  return r.rows[0]!.id;
}

const state = async (id: string) => ((await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string }).state;
const snapshotState = async (id: string) => (await sql.query<{ state: string }>('SELECT state FROM snapshot WHERE id = $1', [id])).rows[0]!.state;

test('past the grace period: running sandboxes stop and snapshots go inactive; within it, after until, or elsewhere nothing moves', async () => {
  const past = await createTenant(app, 'suspended-past-grace');
  const within = await createTenant(app, 'suspended-within-grace');
  const expired = await createTenant(app, 'suspension-expired');
  const other = await createTenant(app, 'not-suspended');
  const sandboxes = { past: await sandbox(past), within: await sandbox(within), expired: await sandbox(expired), other: await sandbox(other) };
  const snapshots = {
    past: await activeSnapshot(past, 'past-snap'),
    within: await activeSnapshot(within, 'within-snap'),
    expired: await activeSnapshot(expired, 'expired-snap'),
    other: await activeSnapshot(other, 'other-snap'),
  };
  for (const id of Object.values(sandboxes)) assert.equal(await state(id), 'started');

  await suspend(past, { reason: 'unpaid', suspensionCleanupGracePeriodHours: 2 }, 3);
  await suspend(within, { reason: 'unpaid', suspensionCleanupGracePeriodHours: 24 }, 3);
  await suspend(expired, { reason: 'unpaid', suspensionCleanupGracePeriodHours: 1, until: new Date(Date.now() + 60_000).toISOString() }, 3);
  // The suspension of `expired` ended a minute ago: it no longer applies.
  await sql.query(`UPDATE organization SET suspended_until = now() - interval '1 minute' WHERE id = $1`, [expired.organizationId]);

  for (let i = 0; i < 100 && (await state(sandboxes.past)) !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await state(sandboxes.past), 'stopped');
  // Several auto-transition passes (every 200 ms) have run by now.
  await new Promise((r) => setTimeout(r, 1000));
  for (const k of ['within', 'expired', 'other'] as const) assert.equal(await state(sandboxes[k]), 'started', k);

  const lifecycle = new SnapshotLifecycle(createDb(pool), new HttpSnapshotRunnerClient(TEST_PLATFORM_SECRET), app.log, { autoDeactivateDays: 0 });
  assert.deepEqual(await lifecycle.sweep(), [snapshots.past]);
  assert.equal(await snapshotState(snapshots.past), 'inactive');
  for (const k of ['within', 'expired', 'other'] as const) assert.equal(await snapshotState(snapshots[k]), 'active', k);
  assert.deepEqual(await lifecycle.sweep(), [], 'a second sweep finds nothing');

  // While suspended the owner cannot start it again; after unsuspend it starts.
  const start = await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxes.past}/start`, headers: past.auth });
  assert.equal(start.statusCode, 403, start.body);
  assert.match((start.json() as { message: string }).message, /Organization is suspended: unpaid/);
  assert.ok((await app.inject({ method: 'POST', url: `/api/organizations/${past.organizationId}/unsuspend`, headers: adminAuth })).statusCode < 300);
  const again = await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxes.past}/start`, headers: past.auth });
  assert.equal(again.statusCode, 200, again.body);
});
