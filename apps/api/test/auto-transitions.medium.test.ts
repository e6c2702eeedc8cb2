import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/* Auto-stop, auto-archive and auto-delete are timestamp queries; the test ages last_activity_at instead of waiting. */

const TOKEN = 'auto-transitions-runner-token';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let sql: pg.Client;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url, { env: { SHOAL_AUTO_TRANSITION_INTERVAL_MS: '200' } });
  await registerRunner(app, runner.url, TOKEN);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  await sql?.end();
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

async function create(payload: object): Promise<string> {
  const r = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload });
  assert.equal(r.statusCode, 200, r.body);
  return (r.json() as { id: string }).id;
}

async function age(id: string, minutes: number): Promise<void> {
  await sql.query(`UPDATE sandbox SET last_activity_at = now() - $2 * interval '1 minute' WHERE id = $1`, [id, minutes]);
}

async function waitState(id: string, state: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = ((await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string }).state;
    if (s === state) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${id} did not reach ${state}`);
}

test('auto-stop after autoStopInterval minutes of inactivity; 0 disables it', async () => {
  const idle = await create({ autoStopInterval: 5 });
  const never = await create({ autoStopInterval: 0 });
  await age(idle, 6);
  await age(never, 600);
  await waitState(idle, 'stopped');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(((await app.inject({ method: 'GET', url: `/api/sandbox/${never}`, headers: adminAuth })).json() as { state: string }).state, 'started');
});

test('auto-stop of an ephemeral sandbox destroys it', async () => {
  const id = await create({ autoStopInterval: 1, autoDeleteInterval: 0 });
  await age(id, 2);
  await waitState(id, 'destroyed');
});

test('auto-archive of a stopped sandbox, then auto-delete', async () => {
  const id = await create({ autoArchiveInterval: 10, autoDeleteInterval: 30 });
  await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth });
  await waitState(id, 'stopped');
  await age(id, 11);
  await waitState(id, 'archived');
  await age(id, 31);
  await waitState(id, 'destroyed');
  assert.equal(runner.states.has(id), false);
});

test('toolbox traffic refreshes lastActivityAt (throttled to once per 10 s)', async () => {
  const id = await create({});
  await age(id, 60);
  const before = (await sql.query('SELECT last_activity_at FROM sandbox WHERE id = $1', [id])).rows[0].last_activity_at as Date;
  await app.inject({ method: 'GET', url: `/api/toolbox/${id}/toolbox/work-dir`, headers: adminAuth });
  await new Promise((r) => setTimeout(r, 200));
  const after1 = (await sql.query('SELECT last_activity_at FROM sandbox WHERE id = $1', [id])).rows[0].last_activity_at as Date;
  assert.ok(after1.getTime() - before.getTime() > 59 * 60_000, 'activity moved to now');
  await app.inject({ method: 'GET', url: `/api/toolbox/${id}/toolbox/work-dir`, headers: adminAuth });
  await new Promise((r) => setTimeout(r, 200));
  const after2 = (await sql.query('SELECT last_activity_at FROM sandbox WHERE id = $1', [id])).rows[0].last_activity_at as Date;
  assert.equal(after2.getTime(), after1.getTime(), 'second request within 10 s did not write');
});

test('a slow runner call in flight does not hold up auto-stop in the same process', async () => {
  const slow = await new FakeRunner({ token: 'slow-auto-runner-token', actionDelayMs: 5000 }).start();
  try {
    const idle = await create({ autoStopInterval: 1 });
    await registerRunner(app, slow.url, 'slow-auto-runner-token', 'slow-auto.test');
    const slowRunner = (await sql.query(`SELECT id FROM runner WHERE domain = 'slow-auto.test'`)).rows[0].id as string;
    const org = (await sql.query(`SELECT organization_id FROM sandbox WHERE id = $1`, [idle])).rows[0].organization_id as string;
    // A sandbox only the reconciler's tick will pick up (no request drives it), on the slow runner.
    await sql.query(
      `INSERT INTO sandbox (organization_id, runner_id, state, desired_state, snapshot, image_ref, os_user, cpu, gpu, mem, disk, auth_token)
       VALUES ($1, $2, 'unknown', 'started', 's', 'img', 'daytona', 1, 0, 1, 3, 'tok')`,
      [org, slowRunner],
    );
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(slow.callsTo('POST', /^\/sandboxes$/).length, 1, 'the slow create is in flight');
    await age(idle, 2);
    await waitState(idle, 'stopped');
    // Ordering, not timing: the stop happened while the 5 s create was still running.
    assert.equal(slow.states.size, 0, 'the slow create had not finished when auto-stop happened');
  } finally {
    await sql.query(`UPDATE runner SET unschedulable = true WHERE domain = 'slow-auto.test'`);
    await slow.stop();
  }
});
