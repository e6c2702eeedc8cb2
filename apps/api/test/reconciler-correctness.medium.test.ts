import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { CreateRunnerSandbox } from '@shoal/contracts';
import type { ShoalApp } from '../src/app.js';
import { DESTROY_MAX_ATTEMPTS, destroyBackoffMs, START_WAIT_FOR_RUNNER_ATTEMPTS } from '../src/reconciler/reconciler.js';
import { HttpRunnerAdapter, RunnerCallError, type RunnerTarget } from '../src/reconciler/runner-client.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Reconciler correctness against a real PostgreSQL and the fake runner:
 * - a runner's state report is an observation; it never overrides a start/stop/delete the user asked for that is
 *   still pending (the reconciler is paused to hold the user's request pending while the report arrives);
 * - a destroy that keeps failing backs off, gives up after DESTROY_MAX_ATTEMPTS in `error` with the reason, stays
 *   given up (no retry storm), and a new DELETE retries it;
 * - a start whose runner is unresponsive for a moment waits for it instead of failing.
 */

const TOKEN = 'reconciler-correctness-runner-token';
const runnerAuth = { authorization: `Bearer ${TOKEN}` };

/** The real HTTP client to the fake runner, with a switch that makes every destroy fail the way a sick runner does. */
class SwitchableAdapter extends HttpRunnerAdapter {
  failDestroy: string | null = null;
  /** Health probes fail, as when the runner is restarting or the host is too loaded to answer in time. */
  failInfo = false;
  readonly destroys = new Map<string, number>();
  readonly creates = new Map<string, number>();

  override async createSandbox(r: RunnerTarget, body: CreateRunnerSandbox): Promise<void> {
    this.creates.set(body.id, (this.creates.get(body.id) ?? 0) + 1);
    await super.createSandbox(r, body);
  }

  override async info(r: RunnerTarget) {
    if (this.failInfo) throw new RunnerCallError('runner unreachable (test)', 502);
    return super.info(r);
  }

  override async destroySandbox(r: RunnerTarget, id: string): Promise<void> {
    this.destroys.set(id, (this.destroys.get(id) ?? 0) + 1);
    if (this.failDestroy) throw new RunnerCallError(this.failDestroy, 500);
    await super.destroySandbox(r, id);
  }
}

let db: TestDatabase;
let runner: FakeRunner;
let adapter: SwitchableAdapter;
let app: ShoalApp;
let client: pg.Client;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  adapter = new SwitchableAdapter(TEST_PLATFORM_SECRET);
  app = await buildTestApp(db.url, { runnerAdapter: adapter, env: { SHOAL_CREATE_WAIT_MS: '10000' } });
  await registerRunner(app, runner.url, TOKEN);
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});

after(async () => {
  await client?.end();
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

interface Row {
  state: string;
  desired_state: string;
  attempts: number;
  next_attempt_at: Date | null;
  error_reason: string | null;
  claimed_by: string | null;
  updated_at: Date;
  /** The back-off the reconciler chose: next_attempt_at and updated_at are written by the same statement. */
  backoff_ms: number | null;
}

async function row(id: string): Promise<Row> {
  const r = await client.query<Row>(
    `SELECT state, desired_state, attempts, next_attempt_at, error_reason, claimed_by, updated_at,
       round(extract(epoch FROM next_attempt_at - updated_at) * 1000)::int AS backoff_ms
     FROM sandbox WHERE id = $1`,
    [id],
  );
  assert.ok(r.rows[0], `sandbox ${id} exists`);
  return r.rows[0];
}

async function shown(id: string): Promise<{ state: string; errorReason?: string | null }> {
  return (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string; errorReason?: string | null };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const shownAs = (id: string, state: string) => until(`${id} ${state}`, async () => ((await shown(id)).state === state ? true : undefined));

async function createStarted(): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { id: string; state: string };
  assert.equal(body.state, 'started');
  return body.id;
}

async function report(id: string, state: string, errorReason?: string): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: `/api/sandbox/${id}/state`, headers: runnerAuth, payload: { state, ...(errorReason ? { errorReason } : {}) } });
  assert.equal(res.statusCode, 200, res.body);
}

/** Holds every user request pending: nothing drives sandboxes until `fn` is done. */
async function withReconcilerPaused(fn: () => Promise<void>): Promise<void> {
  await app.reconciler.stop();
  try {
    await fn();
  } finally {
    app.reconciler.start();
  }
}

const calls = (method: string, path: string) => runner.callsTo(method, new RegExp(`^${path}$`)).length;

describe('runner reports never override what the user asked for', () => {
  test('a pending stop survives a "started" report and is carried out', async () => {
    const id = await createStarted();
    await withReconcilerPaused(async () => {
      assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth })).statusCode, 200);
      assert.deepEqual([(await row(id)).state, (await row(id)).desired_state], ['started', 'stopped']);
      // E.g. the runner's periodic sync, which read its state just before the stop arrived.
      await report(id, 'started');
      const r = await row(id);
      assert.deepEqual([r.state, r.desired_state], ['started', 'stopped'], 'the report must not clear the pending stop');
      assert.equal((await shown(id)).state, 'stopping');
    });
    await shownAs(id, 'stopped');
    assert.equal(calls('POST', `/sandboxes/${id}/stop`), 1, 'the stop the user asked for reached the runner');
  });

  test('a pending start survives a stale "stopped" report and the start request answers started', async () => {
    const id = await createStarted();
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth })).statusCode, 200);
    await shownAs(id, 'stopped');
    let startAnswer!: Promise<{ statusCode: number; body: string; json: () => unknown }>;
    await withReconcilerPaused(async () => {
      // The start request waits for the sandbox to settle; it is answered after the reconciler resumes.
      startAnswer = app.inject({ method: 'POST', url: `/api/sandbox/${id}/start`, headers: adminAuth });
      await until('desired started', async () => ((await row(id)).desired_state === 'started' ? true : undefined));
      await report(id, 'stopped');
      const r = await row(id);
      assert.deepEqual([r.state, r.desired_state], ['stopped', 'started'], 'the report must not turn the pending start back into stopped');
      assert.equal((await shown(id)).state, 'starting');
    });
    const res = await startAnswer;
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { state: string }).state, 'started');
    assert.equal(calls('POST', `/sandboxes/${id}/start`), 1);
  });

  test('a pending delete survives "started" and "stopped" reports; the sandbox is destroyed', async () => {
    const id = await createStarted();
    await withReconcilerPaused(async () => {
      assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth })).statusCode, 200);
      await report(id, 'started');
      await report(id, 'stopped');
      assert.equal((await row(id)).desired_state, 'destroyed');
      assert.equal((await shown(id)).state, 'destroying');
    });
    await shownAs(id, 'destroyed');
    assert.equal(calls('POST', `/sandboxes/${id}/destroy`), 1);
  });

  test('with nothing pending, a report is what happened on the runner: a sandbox that died stays stopped', async () => {
    const id = await createStarted();
    await report(id, 'stopped');
    const r = await row(id);
    assert.deepEqual([r.state, r.desired_state], ['stopped', 'stopped']);
    // A few reconcile rounds (200 ms each): nothing restarts it behind the user's back.
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal((await shown(id)).state, 'stopped');
    assert.equal(calls('POST', `/sandboxes/${id}/start`), 0);
  });
  test('a report of the state the row already has writes nothing (no new updated_at, no activity)', async () => {
    const id = await createStarted();
    const before = await row(id);
    await new Promise((res) => setTimeout(res, 20));
    await report(id, 'started');
    const after = await row(id);
    assert.equal(after.updated_at.getTime(), before.updated_at.getTime());
    assert.deepEqual([after.state, after.desired_state], ['started', 'started']);
  });
});

describe('a failing destroy', () => {
  test(`backs off, ends in error with the reason after ${DESTROY_MAX_ATTEMPTS} attempts, stays there, and a new DELETE retries it`, async () => {
    const id = await createStarted();
    adapter.failDestroy = 'teardown refused (test)';
    try {
      assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth })).statusCode, 200);
      for (let n = 1; n < DESTROY_MAX_ATTEMPTS; n++) {
        const r = await until(`failed destroy ${n}`, async () => {
          const x = await row(id);
          return x.attempts === n && x.claimed_by === null ? x : undefined;
        });
        assert.equal(adapter.destroys.get(id), n);
        assert.deepEqual([r.state, r.desired_state], ['started', 'destroyed']);
        assert.equal(r.backoff_ms, destroyBackoffMs(n), `back-off after failure ${n}`);
        assert.equal((await shown(id)).state, 'destroying');
        // Skip the wait (1 s, 2 s, 4 s, ...) the back-off asked for; what is under test is that it was asked for.
        await client.query('UPDATE sandbox SET next_attempt_at = now() WHERE id = $1', [id]);
      }
      const gaveUp = await until('give up', async () => {
        const x = await row(id);
        return x.state === 'error' ? x : undefined;
      });
      assert.equal(adapter.destroys.get(id), DESTROY_MAX_ATTEMPTS);
      assert.equal(gaveUp.desired_state, 'destroyed');
      assert.equal(gaveUp.next_attempt_at, null);
      assert.equal(gaveUp.error_reason, `Destroy failed after ${DESTROY_MAX_ATTEMPTS} attempts: teardown refused (test)`);
      const seen = await shown(id);
      assert.equal(seen.state, 'error');
      assert.equal(seen.errorReason, gaveUp.error_reason);

      // Given up means given up: several reconcile rounds later no further destroy was sent.
      await new Promise((res) => setTimeout(res, 1500));
      assert.equal(adapter.destroys.get(id), DESTROY_MAX_ATTEMPTS, 'no destroy after giving up');
      assert.equal((await row(id)).state, 'error');
    } finally {
      adapter.failDestroy = null;
    }
    // The runner is healthy again; the user deletes again and this time it goes through.
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${id}`, headers: adminAuth })).statusCode, 200);
    await shownAs(id, 'destroyed');
    assert.equal(adapter.destroys.get(id), DESTROY_MAX_ATTEMPTS + 1);
    assert.equal(runner.states.has(id), false, 'nothing left on the runner');
  });
});

describe('a start while the runner is unresponsive', () => {
  test(`waits for the runner (retried with back-off, up to ${START_WAIT_FOR_RUNNER_ATTEMPTS} times) and starts once it is back`, async () => {
    const id = await createStarted();
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${id}/stop`, headers: adminAuth })).statusCode, 200);
    await shownAs(id, 'stopped');
    const startsBefore = calls('POST', `/sandboxes/${id}/start`);
    adapter.failInfo = true;
    await client.query(`UPDATE runner SET state = 'unresponsive'`);
    try {
      const answer = app.inject({ method: 'POST', url: `/api/sandbox/${id}/start`, headers: adminAuth });
      const waiting = await until('a start retry scheduled', async () => {
        const x = await row(id);
        return x.attempts === 1 && x.claimed_by === null ? x : undefined;
      });
      assert.deepEqual([waiting.state, waiting.desired_state, waiting.error_reason], ['stopped', 'started', null]);
      assert.equal(waiting.backoff_ms, destroyBackoffMs(1));
      assert.equal((await shown(id)).state, 'starting', 'the user sees the start still going, not an error');
      assert.equal(calls('POST', `/sandboxes/${id}/start`), startsBefore, 'nothing was sent to a runner that is not ready');

      // The runner answers again; skip the rest of the back-off.
      adapter.failInfo = false;
      await client.query(`UPDATE runner SET state = 'ready'`);
      await client.query('UPDATE sandbox SET next_attempt_at = now() WHERE id = $1', [id]);
      const res = await answer;
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((res.json() as { state: string }).state, 'started');
    } finally {
      adapter.failInfo = false;
      await client.query(`UPDATE runner SET state = 'ready'`);
    }
    const settled = await row(id);
    assert.deepEqual([settled.state, settled.attempts, settled.next_attempt_at], ['started', 0, null]);
    assert.equal(calls('POST', `/sandboxes/${id}/start`), startsBefore + 1);
  });
});
