import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import type { TestDatabase } from './helpers/database.js';
import { buildTestApp, createTenant, type FakeRunnerApp, startFakeRunnerApp } from './helpers/app.js';

/*
 * The operator's bound on the start queue (issue 15, bursts): creates wait their turn until SHOAL_MAX_PENDING_CREATES
 * sandboxes of any organization are waiting, then the next one gets 429 with Retry-After and nothing is made.
 */

const TOKEN = 'pending-creates-runner-token';
const LIMIT = 2;
let db: TestDatabase;
let app: ShoalApp;
let sql: pg.Client;
let fx: FakeRunnerApp;

before(async () => {
  // Each create is held on the runner for a while, so the first ones are still waiting when the next one comes.
  fx = await startFakeRunnerApp({ token: TOKEN, actionDelayMs: 2500, env: { SHOAL_MAX_PENDING_CREATES: String(LIMIT) } });
  ({ db, app, sql } = fx);
});

after(async () => {
  await fx?.close();
});

const create = (auth: { authorization: string }) => app.inject({ method: 'POST', url: '/api/sandbox', headers: auth, payload: {} });

async function pendingRows(): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sandbox WHERE desired_state = 'started' AND state <> 'started'`);
  return rows[0]!.n;
}

test('past the limit of waiting creates, a create gets 429 with Retry-After and nothing is made; then creates pass again', async () => {
  const a = await createTenant(app, 'pending-a');
  const b = await createTenant(app, 'pending-b');
  const waiting = [create(a.auth), create(a.auth)];
  const deadline = Date.now() + 10_000;
  while ((await pendingRows()) < LIMIT) {
    assert.ok(Date.now() < deadline, 'the first creates never showed up as waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
  const { rows: before } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sandbox`);
  // The bound is the platform's, not one organization's: another tenant is refused too.
  for (const t of [a, b]) {
    const refused = await create(t.auth);
    assert.equal(refused.statusCode, 429, refused.body);
    assert.equal(refused.headers['retry-after'], '5');
    const body = refused.json() as Record<string, unknown>;
    assert.equal(body.statusCode, 429);
    assert.equal(body.error, 'Too Many Requests');
    assert.equal(body.path, '/api/sandbox');
    assert.match(String(body.message), /waiting to start .*limit is 2.*retry in 5 s/);
  }
  const { rows: afterRefusal } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sandbox`);
  assert.equal(afterRefusal[0]!.n, before[0]!.n, 'a refused create made no row');
  // The admitted ones were only waiting: they start.
  for (const r of await Promise.all(waiting)) {
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((r.json() as { state: string }).state, 'started');
  }
  const again = await create(b.auth);
  assert.equal(again.statusCode, 200, again.body);
});

test('with no cap (0), creates are never refused for the queue', async () => {
  const uncapped = await buildTestApp(db.url, { env: { SHOAL_MAX_PENDING_CREATES: '0' } });
  try {
    const t = await createTenant(uncapped, 'pending-uncapped');
    const all = await Promise.all(Array.from({ length: LIMIT + 2 }, () => uncapped.inject({ method: 'POST', url: '/api/sandbox', headers: t.auth, payload: {} })));
    for (const r of all) assert.equal(r.statusCode, 200, r.body);
  } finally {
    await uncapped.close();
  }
});
