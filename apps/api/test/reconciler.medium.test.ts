import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Two API processes (two independent build()s, each with its own pool, LISTEN connection and reconciler) share one
 * database and one fake runner. Every sandbox must be created exactly once and destroyed exactly once, and none may
 * stay in a transitional state.
 */

const TOKEN = 'reconciler-fake-runner-token';
const N = 50;

let db: TestDatabase;
let runner: FakeRunner;
let a: ShoalApp;
let b: ShoalApp;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN, actionDelayMs: 20 }).start();
  const env = { SHOAL_CREATE_WAIT_MS: '20000', SHOAL_CLAIM_LEASE_MS: '3000' };
  a = await buildTestApp(db.url, { env });
  b = await buildTestApp(db.url, { env });
  await registerRunner(a, runner.url, TOKEN);
});

after(async () => {
  await a?.close();
  await b?.close();
  await runner?.stop();
  await db?.drop();
});

async function stateOf(app: ShoalApp, id: string): Promise<string> {
  return ((await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string }).state;
}

async function waitAll(ids: string[], state: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ids.map((id) => stateOf(a, id)));
    if (states.every((s) => s === state)) return;
    if (Date.now() > deadline) assert.fail(`not all ${state}: ${JSON.stringify(states.filter((s) => s !== state))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(`${N} sandboxes created, stopped and deleted concurrently through two API instances: no double action, nothing stuck`, async () => {
  const apps = [a, b];
  const created = await Promise.all(
    Array.from({ length: N }, (_, i) => apps[i % 2]!.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: { labels: { i: String(i) } } })),
  );
  const ids = created.map((r) => {
    assert.equal(r.statusCode, 200, r.body);
    return (r.json() as { id: string }).id;
  });
  await waitAll(ids, 'started');

  // Stop half through each instance, and hit the other half with a stop from both at once: exactly one may win.
  const stops = await Promise.all(
    ids.flatMap((id, i) =>
      i % 2 === 0
        ? [apps[i % 2]!.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth })]
        : [a.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth }), b.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth })],
    ),
  );
  assert.ok(stops.every((r) => r.statusCode === 200 || r.statusCode === 400), 'stop answers 200 or 400');
  await waitAll(ids, 'stopped');

  const deletes = await Promise.all(ids.flatMap((id) => [a.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth }), b.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth })]));
  assert.ok(deletes.every((r) => r.statusCode === 200));
  await waitAll(ids, 'destroyed');

  for (const id of ids) {
    const creates = runner.callsTo('POST', /^\/sandboxes$/).filter((c) => c.body.includes(id)).length;
    assert.equal(creates, 1, `create of ${id} sent ${creates} times`);
    assert.equal(runner.callsTo('POST', new RegExp(`^/sandboxes/${id}/stop$`)).length, 1, `stop of ${id}`);
    assert.equal(runner.callsTo('POST', new RegExp(`^/sandboxes/${id}/destroy$`)).length, 1, `destroy of ${id}`);
    assert.equal(runner.callsTo('DELETE', new RegExp(`^/sandboxes/${id}$`)).length, 1, `remove of ${id}`);
  }
  assert.equal(runner.states.size, 0, 'nothing left on the runner');

  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const claimed = await c.query('SELECT count(*)::int AS n FROM sandbox WHERE claimed_by IS NOT NULL');
    assert.equal(claimed.rows[0].n, 0, 'no claim left behind');
  } finally {
    await c.end();
  }
});

test('a claim left by a crashed process expires and another process finishes the work', async () => {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    const org = await c.query(`SELECT organization_id FROM api_key LIMIT 1`);
    const r = await c.query(`SELECT id FROM runner LIMIT 1`);
    // As if an API process died right after claiming a fresh sandbox, before calling the runner.
    const ins = await c.query(
      `INSERT INTO sandbox (organization_id, runner_id, state, desired_state, snapshot, image_ref, os_user, cpu, gpu, mem, disk, auth_token, claimed_by, claim_expires_at)
       VALUES ($1, $2, 'unknown', 'started', 'shoal/sandbox:test', 'img', 'daytona', 1, 0, 1, 3, 'tok', 'api-dead', now() + interval '1 second')
       RETURNING id`,
      [org.rows[0].organization_id, r.rows[0].id],
    );
    const id = ins.rows[0].id as string;
    assert.equal(await stateOf(a, id), 'creating');
    await waitAll([id], 'started', 15_000);
    assert.equal(runner.callsTo('POST', /^\/sandboxes$/).filter((x) => x.body.includes(id)).length, 1);
  } finally {
    await c.end();
  }
});

test('DELETE while the create is still running: the create finishes, then exactly one destroy follows', async () => {
  const slow = await new FakeRunner({ token: 'slow-runner-token-abcdef', actionDelayMs: 600 }).start();
  const c = await buildTestApp(db.url, { env: { SHOAL_CREATE_WAIT_MS: '0' } });
  try {
    const runners = (await c.inject({ method: 'GET', url: '/api/runners', headers: adminAuth })).json() as { id: string }[];
    for (const r of runners) await c.inject({ method: 'PATCH', url: `/api/runners/${r.id}/scheduling`, headers: adminAuth, payload: { unschedulable: true } });
    await registerRunner(c, slow.url, 'slow-runner-token-abcdef', 'slow.test');
    const created = await c.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
    const body = created.json() as { id: string; state: string };
    assert.equal(body.state, 'creating');
    assert.equal((await c.inject({ method: 'DELETE', url: `/api/sandbox/${body.id}`, headers: adminAuth })).statusCode, 200);
    assert.equal(await stateOf(c, body.id), 'destroying');
    await waitAll([body.id], 'destroyed');
    assert.equal(slow.callsTo('POST', /^\/sandboxes$/).length, 1);
    assert.equal(slow.callsTo('POST', new RegExp(`/sandboxes/${body.id}/destroy$`)).length, 1);
    assert.equal(slow.states.size, 0);
  } finally {
    await c.close();
    await slow.stop();
  }
});
