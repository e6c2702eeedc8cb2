import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { RUNNER_ROW_CHANNEL } from '../src/reconciler/sandbox-events.js';
import { buildTestApp, createTenant, type FakeRunnerApp, startFakeRunnerApp } from './helpers/app.js';

/*
 * GET /sandbox/{id} and the proxy read sandbox rows through a per-process cache (services/row-cache.ts). It
 * must never show a caller less than what was committed before its request, give or take the notice's flight time for
 * changes made elsewhere; and never anything once the caller's own write was answered.
 */

const TOKEN = 'sandbox-row-cache-runner-token';
let fx: FakeRunnerApp;
/** Caches, and hears the database's notices. */
let a: ShoalApp;
/** Another replica that runs no background work: it never caches, so it only writes here. */
let b: ShoalApp;
let sql: pg.Client;
let tenant: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  // A TTL far beyond any wait below: what `a` shows within a test can only come from notices and its own writes.
  const env = { SHOAL_SANDBOX_CACHE_TTL_MS: '600000' };
  fx = await startFakeRunnerApp({ token: TOKEN, env });
  ({ app: a, sql } = fx);
  b = await buildTestApp(fx.db.url, { background: false, env });
  tenant = await createTenant(a, 'row-cache');
});

after(async () => {
  await b?.close();
  await fx?.close();
});

async function createStarted(): Promise<string> {
  const res = await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} });
  assert.equal(res.statusCode, 200, res.body);
  const { id, state } = res.json() as { id: string; state: string };
  assert.equal(state, 'started');
  return id;
}

async function get(app: ShoalApp, id: string, auth = tenant.auth): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: auth });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

const labelsOf = async (app: ShoalApp, id: string) => JSON.stringify((await get(app, id)).body.labels);

async function setLabels(app: ShoalApp, id: string, labels: Record<string, string>): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: `/api/sandbox/${id}/labels`, headers: tenant.auth, payload: { labels } });
  assert.equal(res.statusCode, 200, res.body);
}

async function eventually(read: () => Promise<string>, want: string, withinMs = 5000): Promise<string> {
  const deadline = Date.now() + withinMs;
  let got = await read();
  while (got !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    got = await read();
  }
  return got;
}

/** Runs SQL without firing triggers: what a missed notice would look like. */
async function silently(text: string, values: unknown[]): Promise<void> {
  await sql.query('BEGIN');
  await sql.query('SET LOCAL session_replication_role = replica');
  await sql.query(text, values);
  await sql.query('COMMIT');
}

/**
 * Waits until `a` serves the row from its cache: a row changed without a notice still reads as before. Until the
 * notices of the writes so far have arrived, `a` reads the row fresh (and sees the silent change), so this retries.
 */
async function cachedBehindTheBack(id: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (let i = 0; ; i++) {
    const seen = await labelsOf(a, id);
    await silently(`UPDATE sandbox SET labels = $2 WHERE id = $1`, [id, JSON.stringify({ silent: String(i) })]);
    if ((await labelsOf(a, id)) === seen) return;
    assert.ok(Date.now() < deadline, 'a never served the row from its cache');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a cached row is served until its notice, which comes from whichever writer changed it', async () => {
  const id = await createStarted();
  await setLabels(a, id, { v: '1' });
  await cachedBehindTheBack(id);
  // Another replica's write reaches it through the database's notice.
  await setLabels(b, id, { v: '2' });
  assert.equal(await eventually(() => labelsOf(a, id), '{"v":"2"}'), '{"v":"2"}');
  // So does SQL run by hand.
  await sql.query(`UPDATE sandbox SET labels = '{"v":"3"}' WHERE id = $1`, [id]);
  assert.equal(await eventually(() => labelsOf(a, id), '{"v":"3"}'), '{"v":"3"}');
});

test("with the notices held up, a replica's own writes are still read back at once", async () => {
  const id = await createStarted();
  await setLabels(a, id, { v: '0' });
  await cachedBehindTheBack(id);
  // Stop the database session that delivers a's notices (its last LISTEN names the runner channel): from now on they wait in the queue.
  const { rows } = await sql.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1`, [`LISTEN ${RUNNER_ROW_CHANNEL}`]);
  assert.equal(rows.length, 1, 'one replica listens');
  const listener = rows[0]!.pid;
  process.kill(listener, 'SIGSTOP');
  try {
    for (let i = 1; i <= 5; i++) {
      await setLabels(a, id, { v: String(i) });
      assert.equal(await labelsOf(a, id), JSON.stringify({ v: String(i) }), `write ${i}`);
    }
    const stop = await a.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: tenant.auth });
    assert.equal(stop.statusCode, 200, stop.body);
    // A stop is answered before it settles; the point is that the row is no longer the cached 'started' one.
    assert.match(String((await get(a, id)).body.state), /^stopp(ing|ed)$/);
    const toolbox = await a.inject({ method: 'GET', url: `/api/toolbox/${id}/toolbox/version`, headers: tenant.auth });
    assert.equal(toolbox.statusCode, 400, `the proxy knows it stopped: ${toolbox.body}`);
  } finally {
    process.kill(listener, 'SIGCONT');
  }
});

test('a cached row of another organization is still a missing sandbox', async () => {
  const id = await createStarted();
  assert.equal((await get(a, id)).status, 200);
  const other = await createTenant(a, 'row-cache-other');
  const res = await get(a, id, other.auth);
  assert.equal(res.status, 404);
  assert.match(String(res.body.message), /not found/i);
});

test("a runner's new domain reaches every cached row of it", async () => {
  const id = await createStarted();
  const before = (await get(a, id)).body.runnerDomain;
  assert.equal(typeof before, 'string');
  await sql.query(`UPDATE runner SET domain = 'renamed.test' WHERE id = (SELECT runner_id FROM sandbox WHERE id = $1)`, [id]);
  const read = async () => String((await get(a, id)).body.runnerDomain);
  assert.equal(await eventually(read, 'renamed.test'), 'renamed.test');
});

test("a runner's cached row follows its notice: the proxy sends the next request to the runner's new address", async () => {
  const id = await createStarted();
  const version = async () => String((await a.inject({ method: 'GET', url: `/api/toolbox/${id}/toolbox/version`, headers: tenant.auth })).statusCode);
  // Two answers in a row: the second comes from the cached runner row.
  assert.equal(await version(), '200');
  assert.equal(await version(), '200');
  const { rows } = await sql.query<{ apiUrl: string }>(`SELECT api_url AS "apiUrl" FROM runner WHERE id = (SELECT runner_id FROM sandbox WHERE id = $1)`, [id]);
  const apiUrl = rows[0]!.apiUrl;
  // Port 9 on loopback: nothing listens, so a request sent there fails at once.
  const moved = apiUrl.replace(/:\d+/, ':9');
  await sql.query(`UPDATE runner SET api_url = $2 WHERE id = (SELECT runner_id FROM sandbox WHERE id = $1)`, [id, moved]);
  try {
    assert.notEqual(await eventually(async () => ((await version()) === '200' ? 'old address' : 'new address'), 'new address'), 'old address', 'the proxy still used the old address');
  } finally {
    await sql.query(`UPDATE runner SET api_url = $2 WHERE id = (SELECT runner_id FROM sandbox WHERE id = $1)`, [id, apiUrl]);
  }
  assert.equal(await eventually(version, '200'), '200');
});
