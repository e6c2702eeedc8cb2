import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { CreateRunnerSandbox } from '@shoal/contracts';
import type { ShoalApp } from '../src/app.js';
import { HttpRunnerAdapter, type RunnerTarget } from '../src/reconciler/runner-client.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Two API replicas (two build()s: own pool, own LISTEN connection, own reconciler) on one real PostgreSQL and one fake
 * runner. Their interval poll is set to 60 s, so within these tests work can only reach a replica that did not accept
 * it through LISTEN/NOTIFY. Each replica's runner client notes when it sends a create, so pickup is measured where it
 * happens, and a create sent by both replicas would show up as two.
 */

const TOKEN = 'reconciler-notify-runner-token';
const POLL_MS = 60_000;
/** Far below the poll interval: a pickup within this can only come from a notification. */
const PICKUP_BOUND_MS = 10_000;

class TimedAdapter extends HttpRunnerAdapter {
  /** Sandbox id -> performance.now() of every create this replica sent. */
  readonly creates = new Map<string, number[]>();
  /** Sandbox id -> wall clock (Date.now()) of the first create, comparable with PostgreSQL's now() on this host. */
  readonly wallClock = new Map<string, number>();

  override async createSandbox(r: RunnerTarget, body: CreateRunnerSandbox): Promise<void> {
    const list = this.creates.get(body.id) ?? [];
    list.push(performance.now());
    this.creates.set(body.id, list);
    if (!this.wallClock.has(body.id)) this.wallClock.set(body.id, Date.now());
    await super.createSandbox(r, body);
  }
}

let db: TestDatabase;
let runner: FakeRunner;
let a: ShoalApp;
let b: ShoalApp;
const adA = new TimedAdapter(TEST_PLATFORM_SECRET);
const adB = new TimedAdapter(TEST_PLATFORM_SECRET);

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  // SHOAL_CREATE_WAIT_MS=0: POST /sandbox answers as soon as the row is committed, so the request does not wait for
  // the pickup being measured.
  const env = { SHOAL_RECONCILE_INTERVAL_MS: String(POLL_MS), SHOAL_CREATE_WAIT_MS: '0' };
  a = await buildTestApp(db.url, { env, runnerAdapter: adA });
  b = await buildTestApp(db.url, { env, runnerAdapter: adB });
  await registerRunner(a, runner.url, TOKEN);
});

after(async () => {
  await a?.close();
  await b?.close();
  await runner?.stop();
  await db?.drop();
});

async function createOn(app: ShoalApp): Promise<{ id: string; state: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { id: string; state: string };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 1): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function allStarted(ids: string[]): Promise<void> {
  await until(
    'all started',
    async () => {
      const states = await Promise.all(ids.map(async (id) => ((await a.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string }).state));
      return states.every((s) => s === 'started') ? true : undefined;
    },
    20_000,
    50,
  );
}

function summary(label: string, values: number[]): string {
  const v = [...values].sort((x, y) => x - y);
  const pct = (p: number) => v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]!.toFixed(1);
  return `${label}: p50 ${pct(50)}, p90 ${pct(90)}, max ${v.at(-1)!.toFixed(1)}`;
}

test('a create accepted by replica A while its reconciler is paused is picked up by replica B through NOTIFY', async (t) => {
  await a.reconciler.stop();
  const latencies: number[] = [];
  const afterAnswer: number[] = [];
  const afterNotify: number[] = [];
  // A third listener on the work channel: it hears the NOTIFY when A's INSERT commits, as B does.
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  let lastNotify = 0;
  listener.on('notification', () => {
    lastNotify = performance.now();
  });
  await listener.query('LISTEN shoal_sandbox_work');
  const ids: string[] = [];
  try {
    for (let i = 0; i < 15; i++) {
      const sent = performance.now();
      const sb = await createOn(a);
      const answered = performance.now();
      // A reads the row once after its commit; B, woken by the NOTIFY, may already have finished the create by then.
      // Who drove it is checked below: A's runner client never sent a create.
      assert.ok(sb.state === 'creating' || sb.state === 'started', `A answered ${sb.state}`);
      ids.push(sb.id);
      const pickedAt = await until(`B to send the create of ${sb.id}`, () => adB.creates.get(sb.id)?.[0], PICKUP_BOUND_MS);
      latencies.push(pickedAt - sent);
      afterAnswer.push(pickedAt - answered);
      const notified = await until('the NOTIFY', () => (lastNotify > sent ? lastNotify : undefined), PICKUP_BOUND_MS);
      afterNotify.push(pickedAt - notified);
    }
    await allStarted(ids);
  } finally {
    a.reconciler.start();
    await listener.end();
  }
  for (const id of ids) {
    assert.equal(adA.creates.get(id), undefined, 'the paused replica sent no create');
    assert.equal(adB.creates.get(id)?.length, 1, `B sent the create of ${id} once`);
    assert.equal(runner.callsTo('POST', /^\/sandboxes$/).filter((c) => c.body.includes(id)).length, 1);
  }
  // The row's created_at is now() of A's INSERT transaction (PostgreSQL on this host, same clock as Date.now()).
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const fromInsert: number[] = [];
  try {
    const rows = await c.query<{ id: string; ms: number }>('SELECT id, extract(epoch FROM created_at) * 1000 AS ms FROM sandbox WHERE id = ANY($1)', [ids]);
    for (const r of rows.rows) fromInsert.push(adB.wallClock.get(r.id)! - Number(r.ms));
  } finally {
    await c.end();
  }
  const figures = [
    `pickup by replica B over ${ids.length} creates, ms (A, B and this test share one event loop; host load average ${loadavg()[0]!.toFixed(1)}; poll interval ${POLL_MS} ms)`,
    // An upper bound: the request was sent before A's INSERT began.
    summary("A's request sent -> B's runner call", latencies),
    summary("A's INSERT transaction start (created_at) -> B's runner call", fromInsert),
    summary("the commit's NOTIFY seen by a third listener -> B's runner call", afterNotify),
    summary("A's answer (after its commit) -> B's runner call", afterAnswer),
  ].join('\n  ');
  t.diagnostic(figures);
  console.log(figures);
});

test('with both replicas running, a create is driven once, by the replica that accepted it (its row is inserted claimed)', async () => {
  const N = 40;
  const created = await Promise.all(Array.from({ length: N }, () => createOn(a)));
  const ids = created.map((s) => s.id);
  await allStarted(ids);
  for (const id of ids) {
    // B was woken by every insert's NOTIFY too; the row it would claim was already A's.
    assert.equal(adB.creates.get(id), undefined, `B sent the create of ${id}`);
    assert.equal(adA.creates.get(id)?.length, 1, `A sent the create of ${id} ${adA.creates.get(id)?.length ?? 0} times`);
    assert.equal(runner.callsTo('POST', /^\/sandboxes$/).filter((c) => c.body.includes(id)).length, 1);
  }
});
