import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { WARM_POOL_ORGANIZATION_ID } from '../src/repositories/warm-pool.repository.js';
import { adminAuth, createTenant, type FakeRunnerApp, startFakeRunnerApp } from './helpers/app.js';
import type { FakeRunner } from './helpers/fake-runner.js';

/*
 * Warm pools against a fake runner (issue 15): the keeper fills the default snapshot's pool with sandboxes of the
 * placeholder organization, a create claims one in the caller's organization, and everything a pooled sandbox cannot
 * serve exactly takes the cold path.
 */

const TOKEN = 'warm-pool-runner-token';
const POOL = 2;
let runner: FakeRunner;
let app: ShoalApp;
let sql: pg.Client;
let fx: FakeRunnerApp;

before(async () => {
  fx = await startFakeRunnerApp({ token: TOKEN, env: { SHOAL_WARM_POOL_SIZE: String(POOL), SHOAL_WARM_POOL_INTERVAL_MS: '200' } });
  ({ runner, app, sql } = fx);
});

after(async () => {
  await fx?.close();
});

async function pooled(): Promise<{ id: string; state: string }[]> {
  const { rows } = await sql.query<{ id: string; state: string }>(
    `SELECT id, state FROM sandbox WHERE warm_pool_id IS NOT NULL AND desired_state = 'started' ORDER BY created_at`,
  );
  return rows;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const fullPool = () => until('a full pool', async () => ((await pooled()).filter((s) => s.state === 'started').length === POOL ? pooled() : undefined));

async function create(auth: { authorization: string }, body: Record<string, unknown> = {}) {
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: auth, payload: body });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { id: string; state: string; labels: Record<string, string>; organizationId: string; autoStopInterval: number; public: boolean };
}

test('the keeper fills the pool with sandboxes no organization sees', async () => {
  const ready = await fullPool();
  const t = await createTenant(app, 'pool-viewer');
  const list = await app.inject({ method: 'GET', url: '/api/sandbox', headers: t.auth });
  assert.deepEqual(list.json(), []);
  const { rows } = await sql.query(`SELECT DISTINCT organization_id FROM sandbox WHERE id = ANY($1)`, [ready.map((s) => s.id)]);
  assert.deepEqual(rows, [{ organization_id: WARM_POOL_ORGANIZATION_ID }]);
  for (const s of ready) assert.equal((await app.inject({ method: 'GET', url: `/api/sandbox/${s.id}`, headers: t.auth })).statusCode, 404);
});

test('a create claims a pooled sandbox for the caller, with the request applied, and the pool refills', async () => {
  const ready = await fullPool();
  const t = await createTenant(app, 'pool-claimer');
  const createsBefore = runner.calls.filter((c) => c.method === 'POST' && c.path === '/sandboxes').length;
  const sb = await create(t.auth, { labels: { team: 'blue' }, autoStopInterval: 7, public: true });
  assert.equal(sb.id, ready[0]!.id, 'the oldest pooled sandbox is handed out');
  assert.equal(sb.state, 'started');
  assert.equal(sb.organizationId, t.organizationId);
  assert.deepEqual(sb.labels, { team: 'blue' });
  assert.equal(sb.autoStopInterval, 7);
  assert.equal(sb.public, true);
  const listed = (await app.inject({ method: 'GET', url: '/api/sandbox', headers: t.auth })).json() as { id: string }[];
  assert.deepEqual(listed.map((s) => s.id), [sb.id]);
  // Claimed, not created: the runner saw no create for it at claim time; the keeper's refill is a new sandbox.
  const refill = await fullPool();
  assert.ok(!refill.some((s) => s.id === sb.id));
  const createsAfter = runner.calls.filter((c) => c.method === 'POST' && c.path === '/sandboxes');
  assert.ok(createsAfter.slice(createsBefore).every((c) => !c.body.includes(sb.id)), 'no create was sent for the claimed sandbox');
});

test('env, network policy and limited egress are claimed and applied on the runner before the answer', async () => {
  const t = await createTenant(app, 'pool-applied');
  await sql.query(`UPDATE organization SET sandbox_limited_network_egress = true WHERE id = $1`, [t.organizationId]);
  const ready = await fullPool();
  const body = { env: { A: '1', B: 'two words' }, networkBlockAll: false, networkAllowList: '198.18.0.0/24', labels: { k: 'v' } };
  const sb = await create(t.auth, body);
  assert.equal(sb.id, ready[0]!.id, 'served from the pool');
  const claim = runner.claims.find((c) => c.id === sb.id);
  assert.ok(claim, 'the runner was asked to apply the claim');
  assert.deepEqual(claim, {
    id: sb.id,
    userId: t.organizationId,
    env: body.env,
    networkBlockAll: false,
    networkAllowList: '198.18.0.0/24',
    networkLimitEgress: true,
    metadata: { organizationId: t.organizationId },
  });
  // The row says what a cold create would have stored, so a later stop/start or a move gets the same sandbox.
  const { rows } = await sql.query(`SELECT env, network_block_all, network_allow_list FROM sandbox WHERE id = $1`, [sb.id]);
  assert.deepEqual(rows[0], { env: body.env, network_block_all: false, network_allow_list: '198.18.0.0/24' });
});

test('another OS user takes the cold path; a region claims only a sandbox placed there', async () => {
  const t = await createTenant(app, 'pool-cold');
  let ready = await fullPool();
  const root = await create(t.auth, { user: 'root' });
  assert.ok(!ready.some((s) => s.id === root.id), 'user root was served from the pool');
  ready = await fullPool();
  const here = await create(t.auth, { target: 'us' });
  assert.equal(here.id, ready[0]!.id, "the runner's own region is served from the pool");
  ready = await fullPool();
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: t.auth, payload: { target: 'eu' } });
  assert.notEqual(res.statusCode, 200, 'no runner serves eu: neither pool nor cold path may answer with a sandbox');
  assert.deepEqual((await pooled()).map((s) => s.id), ready.map((s) => s.id), 'the pool is untouched');
});

test('a claim the runner cannot apply is released and destroyed; the caller gets a cold sandbox', async () => {
  const t = await createTenant(app, 'pool-failed-claim');
  const ready = await fullPool();
  runner.opts.failClaim = new Set([ready[0]!.id]);
  // A webhook endpoint, so the organization's events are queued (its address answers nothing; only the queue is read).
  await sql.query(`INSERT INTO webhook_endpoint (id, organization_id, url, secret) VALUES ($1, $2, 'http://127.0.0.1:9/hook', $3)`, [
    `ep_failed_claim_${Date.now()}`,
    t.organizationId,
    `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
  ]);
  try {
    const sb = await create(t.auth, { env: { X: '1' } });
    // The caller's webhooks tell of the sandbox it got. Of the released one, nothing when its sandbox.created was
    // withdrawn before sending, or its creation followed by its end when the delivery had already started.
    const events = async (id: string) =>
      (
        await sql.query<{ event_type: string; new_state: string | null }>(
          `SELECT event_type, payload->>'newState' AS new_state FROM webhook_message WHERE organization_id = $1 AND payload->>'id' = $2 ORDER BY created_at`,
          [t.organizationId, id],
        )
      ).rows.map((r) => (r.new_state ? `${r.event_type}:${r.new_state}` : r.event_type));
    assert.deepEqual((await events(sb.id))[0], 'sandbox.created');
    const released = await events(ready[0]!.id);
    assert.ok(released.length === 0 || JSON.stringify(released) === '["sandbox.created","sandbox.state.updated:destroyed"]', JSON.stringify(released));
    assert.ok(!ready.some((s) => s.id === sb.id), 'the create fell back to a new sandbox');
    assert.equal(sb.state, 'started');
    const listed = (await app.inject({ method: 'GET', url: '/api/sandbox', headers: t.auth })).json() as { id: string }[];
    assert.deepEqual(listed.map((s) => s.id), [sb.id], 'the failed claim is not the caller\'s');
    assert.equal((await app.inject({ method: 'GET', url: `/api/sandbox/${ready[0]!.id}`, headers: t.auth })).statusCode, 404);
    await until('the released sandbox destroyed', async () => {
      const { rows } = await sql.query<{ state: string; organization_id: string; warm_pool_id: string | null }>(
        `SELECT state, organization_id, warm_pool_id FROM sandbox WHERE id = $1`,
        [ready[0]!.id],
      );
      return rows[0]?.state === 'destroyed' && rows[0].organization_id === WARM_POOL_ORGANIZATION_ID && rows[0].warm_pool_id === null;
    });
  } finally {
    runner.opts.failClaim = undefined;
  }
});

test('two organizations racing for the last pooled sandbox get one each: one pooled, one cold', async () => {
  await fullPool();
  const a = await createTenant(app, 'pool-race-a');
  const b = await createTenant(app, 'pool-race-b');
  // Leave exactly one ready sandbox, and keep the keeper from refilling meanwhile.
  await sql.query(`UPDATE warm_pool SET size = 1`);
  await until('one pooled sandbox', async () => (await pooled()).length === 1);
  const [last] = await pooled();
  const [x, y] = await Promise.all([create(a.auth), create(b.auth)]);
  assert.notEqual(x.id, y.id);
  assert.equal([x.id, y.id].filter((id) => id === last!.id).length, 1, 'exactly one of them got the pooled sandbox');
  assert.equal(x.organizationId, a.organizationId);
  assert.equal(y.organizationId, b.organizationId);
  await sql.query(`UPDATE warm_pool SET size = $1`, [POOL]);
});

test('a claim obeys the quota and changes nothing when refused', async () => {
  const ready = await fullPool();
  const t = await createTenant(app, 'pool-quota');
  await sql.query(`UPDATE organization SET total_cpu_quota = 0 WHERE id = $1`, [t.organizationId]);
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: t.auth, payload: {} });
  assert.equal(res.statusCode, 403, res.body);
  assert.deepEqual((await pooled()).map((s) => s.id), ready.map((s) => s.id), 'the pool is untouched');
});

test('pooled sandboxes on a runner that takes no new work are destroyed, never handed out', async () => {
  const ready = await fullPool();
  const runnerId = (await sql.query<{ id: string }>(`SELECT id FROM runner LIMIT 1`)).rows[0]!.id;
  const res = await app.inject({ method: 'PATCH', url: `/api/runners/${runnerId}/scheduling`, headers: adminAuth, payload: { unschedulable: true } });
  assert.equal(res.statusCode, 200, res.body);
  try {
    await until('the pooled sandboxes retired', async () => {
      const { rows } = await sql.query(`SELECT 1 FROM sandbox WHERE id = ANY($1) AND desired_state <> 'destroyed'`, [ready.map((s) => s.id)]);
      return rows.length === 0;
    });
    // The next top-up finds no runner to place a sandbox on, and the pool says so.
    await until('the pool to report why it cannot fill', async () => {
      const { rows } = await sql.query<{ error_reason: string | null }>(`SELECT error_reason FROM warm_pool`);
      return /No available runners/.test(rows[0]?.error_reason ?? '');
    });
  } finally {
    await app.inject({ method: 'PATCH', url: `/api/runners/${runnerId}/scheduling`, headers: adminAuth, payload: { unschedulable: false } });
  }
});

test('the admin API lists, resizes and removes pools; only general snapshots can be pooled; others get 403', async () => {
  const list = await app.inject({ method: 'GET', url: '/api/warm-pools', headers: adminAuth });
  assert.equal(list.statusCode, 200, list.body);
  const [pool] = list.json() as { id: string; snapshot: string; size: number; ready: number; filling: number; osUser: string }[];
  assert.equal(pool!.osUser, 'daytona');
  assert.equal(pool!.size, POOL);
  assert.ok(pool!.ready + pool!.filling <= POOL);

  const t = await createTenant(app, 'pool-admin-outsider');
  for (const [method, url, payload] of [
    ['GET', '/api/warm-pools', undefined],
    ['PUT', '/api/warm-pools', { snapshot: pool!.snapshot, size: 50 }],
    ['DELETE', `/api/warm-pools/${pool!.id}`, undefined],
  ] as const) {
    const res = await app.inject({ method, url, headers: t.auth, ...(payload ? { payload } : {}) });
    assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
  }
  assert.equal((await sql.query(`SELECT size FROM warm_pool WHERE id = $1`, [pool!.id])).rows[0].size, POOL, 'refused calls changed nothing');

  const notGeneral = await app.inject({ method: 'PUT', url: '/api/warm-pools', headers: adminAuth, payload: { snapshot: 'no-such-snapshot', size: 1 } });
  assert.equal(notGeneral.statusCode, 400, notGeneral.body);
  const badUser = await app.inject({ method: 'PUT', url: '/api/warm-pools', headers: adminAuth, payload: { snapshot: pool!.snapshot, size: 1, osUser: 'x; rm -rf /' } });
  assert.equal(badUser.statusCode, 400, badUser.body);

  // A root pool beside the default one: a create as root is then served from it.
  const rootPool = await app.inject({ method: 'PUT', url: '/api/warm-pools', headers: adminAuth, payload: { snapshot: pool!.snapshot, size: 1, osUser: 'root' } });
  assert.equal(rootPool.statusCode, 200, rootPool.body);
  const rootId = (rootPool.json() as { id: string }).id;
  const waiting = await until('a pooled root sandbox', async () => {
    const { rows } = await sql.query<{ id: string }>(`SELECT id FROM sandbox WHERE warm_pool_id = $1 AND state = 'started'`, [rootId]);
    return rows[0];
  });
  const u = await createTenant(app, 'pool-root-user');
  assert.equal((await create(u.auth, { user: 'root' })).id, waiting.id);

  // Removing a pool destroys what it still holds.
  const del = await app.inject({ method: 'DELETE', url: `/api/warm-pools/${rootId}`, headers: adminAuth });
  assert.equal(del.statusCode, 204, del.body);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/warm-pools/${rootId}`, headers: adminAuth })).statusCode, 404);
  await until('the removed pool emptied', async () => {
    const { rows } = await sql.query(`SELECT 1 FROM sandbox WHERE organization_id = $1 AND warm_pool_id IS NULL AND desired_state <> 'destroyed'`, [WARM_POOL_ORGANIZATION_ID]);
    return rows.length === 0;
  });
});
