// Issue 12 "audit log", retention and toolbox recording: SHOAL_AUDIT_RETENTION_DAYS purges old rows on start and
// hourly, from any number of replicas at once; SHOAL_AUDIT_TOOLBOX_REQUESTS=true records toolbox writes (never their
// bodies), and without it the toolbox leaves no rows. Real PostgreSQL, Fastify inject and a fake runner.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDb, createPool } from '../src/db/database.js';
import { AuditRepository } from '../src/repositories/audit.repository.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { buildTestApp, createTenant, registerRunner, retireRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'audit-retention-runner-token-0123456789';
let db: TestDatabase;
let sql: pg.Client;
const apps: ShoalApp[] = [];
let runner: FakeRunner | undefined;

before(async () => {
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  for (const a of apps) await a.close().catch(() => {});
  await runner?.stop();
  await sql?.end().catch(() => {});
  await db?.drop();
});

async function seed(old: number, recent: number, ageDays: number): Promise<void> {
  await sql.query(
    `INSERT INTO audit_log (actor_id, action, created_at)
     SELECT 'seed', 'create', now() - make_interval(days => $1) - g * interval '1 second' FROM generate_series(1, $2) g`,
    [ageDays, old],
  );
  await sql.query(`INSERT INTO audit_log (actor_id, action) SELECT 'seed-recent', 'create' FROM generate_series(1, $1)`, [recent]);
}

const count = async (where = 'true') => (await sql.query(`SELECT count(*)::int AS n FROM audit_log WHERE ${where}`)).rows[0].n as number;

test('SHOAL_AUDIT_RETENTION_DAYS is validated', () => {
  assert.throws(() => loadConfig({ DATABASE_URL: db.url, SHOAL_AUDIT_RETENTION_DAYS: '-1' }), /SHOAL_AUDIT_RETENTION_DAYS/);
  assert.throws(() => loadConfig({ DATABASE_URL: db.url, SHOAL_AUDIT_RETENTION_DAYS: 'week' }), /SHOAL_AUDIT_RETENTION_DAYS/);
  assert.equal(loadConfig({ DATABASE_URL: db.url }).audit.retentionDays, 0);
  assert.equal(loadConfig({ DATABASE_URL: db.url }).audit.toolboxRequests, false);
});

test('two replicas purging at once delete each old row exactly once and keep the recent ones', async () => {
  await sql.query('DELETE FROM audit_log');
  await seed(12_000, 5, 40);
  const pools = [createPool(db.url, 2), createPool(db.url, 2)];
  try {
    const repos = pools.map((p) => new AuditRepository(createDb(p)));
    const before = new Date(Date.now() - 30 * 86_400_000);
    const deleted = await Promise.all(repos.map((r) => r.purgeOlderThan(before)));
    console.log(`purge by two replicas: ${deleted.join(' + ')} rows`);
    // Whichever replica skipped a batch (the other held the lock) is caught up by its next round; one more round each
    // leaves nothing old behind, and no row is ever counted twice.
    const again = await Promise.all(repos.map((r) => r.purgeOlderThan(before)));
    assert.equal(deleted.reduce((a, b) => a + b, 0) + again.reduce((a, b) => a + b, 0), 12_000);
    assert.equal(await count(`actor_id = 'seed'`), 0);
    assert.equal(await count(`actor_id = 'seed-recent'`), 5);
  } finally {
    for (const p of pools) await p.end();
  }
});

test('an API started with a retention purges on start; without one (the default) nothing is deleted', async () => {
  await sql.query('DELETE FROM audit_log');
  await seed(50, 3, 10);
  const keep = await buildTestApp(db.url);
  apps.push(keep);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await count(`actor_id = 'seed'`), 50, 'no retention configured: rows stay');
  const t0 = Date.now();
  const purging = await buildTestApp(db.url, { env: { SHOAL_AUDIT_RETENTION_DAYS: '7' } });
  apps.push(purging);
  const t1 = Date.now();
  const deadline = Date.now() + 10_000;
  while ((await count(`actor_id = 'seed'`)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  console.log(`retention: app ready in ${t1 - t0} ms, old rows gone ${Date.now() - t1} ms later`);
  assert.equal(await count(`actor_id = 'seed'`), 0);
  assert.equal(await count(`actor_id = 'seed-recent'`), 3);
});

test('toolbox writes are recorded only with SHOAL_AUDIT_TOOLBOX_REQUESTS=true, by path and never with their body', async () => {
  runner = await new FakeRunner({ token: TOKEN }).start();
  const off = apps[0]!;
  const on = await buildTestApp(db.url, { env: { SHOAL_AUDIT_TOOLBOX_REQUESTS: 'true' } });
  apps.push(on);
  const runnerId = await registerRunner(off, runner.url, TOKEN);
  const tenant = await createTenant(off, 'audit-toolbox-tenant');
  const created = await off.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} });
  assert.equal(created.statusCode, 200, created.body);
  const id = (created.json() as { id: string; state: string }).id;
  const toolboxRows = () => count(`action LIKE 'toolbox%'`);
  const exec = { command: 'echo do-not-log-this-command' };

  const viaOff = await off.inject({ method: 'POST', url: `/api/toolbox/${id}/toolbox/process/execute`, headers: tenant.auth, payload: exec });
  assert.equal(viaOff.statusCode, 200, viaOff.body);
  assert.equal(await toolboxRows(), 0);

  const viaOn = await on.inject({ method: 'POST', url: `/api/toolbox/${id}/toolbox/process/execute`, headers: { ...tenant.auth, 'user-agent': 'tb-test' }, payload: exec });
  assert.equal(viaOn.statusCode, 200, viaOn.body);
  assert.equal((await on.inject({ method: 'GET', url: `/api/toolbox/${id}/toolbox/files?path=/`, headers: tenant.auth })).statusCode, 200);
  const del = await on.inject({ method: 'DELETE', url: `/api/toolbox/${id}/toolbox/files?path=/tmp/x`, headers: tenant.auth });
  assert.equal(del.statusCode, 200);
  const rows = (
    await sql.query(`SELECT actor_id, organization_id, action, target_type, target_id, status_code, user_agent, metadata::text AS metadata FROM audit_log WHERE action LIKE 'toolbox%' ORDER BY created_at`)
  ).rows as Array<Record<string, unknown>>;
  assert.deepEqual(
    rows.map((r) => [r.actor_id, r.organization_id, r.action, r.target_type, r.target_id, r.status_code]),
    [
      ['audit-toolbox-tenant', tenant.organizationId, 'toolbox_execute_command', 'sandbox', id, 200],
      ['audit-toolbox-tenant', tenant.organizationId, 'toolbox_delete_file', 'sandbox', id, 200],
    ],
  );
  assert.equal(rows[0]!.user_agent, 'tb-test');
  assert.deepEqual(JSON.parse(rows[0]!.metadata as string), { path: '/process/execute' });
  assert.equal(await count(`audit_log::text LIKE '%do-not-log-this-command%'`), 0);

  // A caller the proxy refuses (no key) leaves no toolbox row.
  assert.equal((await on.inject({ method: 'POST', url: `/api/toolbox/${id}/toolbox/process/execute`, payload: exec })).statusCode, 401);
  assert.equal(await toolboxRows(), 2);
  await retireRunner(off, runnerId);
});
