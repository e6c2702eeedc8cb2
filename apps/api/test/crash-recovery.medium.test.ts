import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { request } from 'undici';
import { createTestDatabase, TEST_ADMIN_KEY, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Real API processes (src/main.ts) against the FAKE runner: SIGKILL one while it is creating 20 sandboxes, start a
 * new one, and every sandbox must end `started` (or `error` with a reason) with nothing left transitional.
 */

const TOKEN = 'crash-recovery-runner-token';
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

let db: TestDatabase;
let runner: FakeRunner;
const children = new Set<ChildProcess>();

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN, actionDelayMs: 1500 }).start();
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await runner?.stop();
  await db?.drop();
});

async function startApi(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      SHOAL_API_PORT: String(port),
      SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
      SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
      SHOAL_CLAIM_LEASE_MS: '2000',
      SHOAL_RECONCILE_INTERVAL_MS: '200',
      SHOAL_CREATE_WAIT_MS: '60000',
      SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
      // The runner must hold exactly the test's sandboxes: a default warm pool would add its own.
      SHOAL_WARM_POOL_SIZE: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('Server listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`API did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

test('SIGKILL during 20 creates: after a restart every sandbox settles, none is duplicated on the runner', async () => {
  const port = 21000 + Math.floor(Math.random() * 20000);
  const base = `http://127.0.0.1:${port}/api`;
  const first = await startApi(port);
  const reg = await request(`${base}/runners`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ domain: 'crash.test', apiUrl: runner.url, proxyUrl: runner.url, apiKey: TOKEN, cpu: 64, memoryGiB: 64, diskGiB: 500 }),
  });
  assert.equal(reg.statusCode, 201);
  await reg.body.dump();

  const creates = Array.from({ length: 20 }, () =>
    request(`${base}/sandbox`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' }).then(
      (r) => r.body.dump(),
      () => undefined,
    ),
  );
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    // Kill once every create is recorded, while the runner calls (1.5 s each) are still in flight. Waiting on the
    // database rather than a fixed delay keeps this independent of how loaded the machine is.
    const inserted = Date.now() + 20_000;
    while (Number((await c.query(`SELECT count(*) AS n FROM sandbox`)).rows[0].n) < 20 && Date.now() < inserted) {
      await new Promise((r) => setTimeout(r, 20));
    }
    first.kill('SIGKILL');
    await once(first, 'exit');
    const killedAt = Date.now();
    await Promise.all(creates);
    const rows = (await c.query(`SELECT id, state FROM sandbox`)).rows as { id: string; state: string }[];
    // What the dead API had recorded: a sandbox it already knew as started must never be created again.
    const startedAtKill = new Set(rows.filter((r) => r.state === 'started').map((r) => r.id));
    const inFlightAtKill = rows.filter((r) => r.state !== 'started').length;
    assert.ok(inFlightAtKill > 0, 'the kill happened with creates in flight');
    assert.equal(rows.length, 20, 'every accepted create is in the database');
    await startApi(port);
    const deadline = Date.now() + 30_000;
    let states: { id: string; state: string; desired_state: string; error_reason: string | null; claimed_by: string | null }[] = [];
    while (Date.now() < deadline) {
      states = (await c.query(`SELECT id, state, desired_state, error_reason, claimed_by FROM sandbox`)).rows;
      if (states.every((s) => (s.state === 'started' || s.state === 'error') && !s.claimed_by)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const s of states) {
      assert.ok(s.state === 'started' || (s.state === 'error' && s.error_reason), `${s.id} ended ${s.state}`);
      assert.equal(s.claimed_by, null);
    }
    // Exactly the 20 sandboxes exist on the runner, and no create was sent for one the runner was still creating or
    // had already reported created (re-sending a create whose answer died with the API is allowed: it is idempotent).
    assert.deepEqual([...runner.states.keys()].sort(), rows.map((r) => r.id).sort());
    // Only a create answered just before the kill, whose result the dead API had not written yet, may be re-sent.
    const duplicates = runner.duplicateCreates.filter((d) => d.reason === 'in-flight' || startedAtKill.has(d.id) || d.answeredAt! > killedAt);
    assert.deepEqual(duplicates, [], 'creates sent for sandboxes the runner was still creating or the API knew were started');
    const resent = runner.retriedCreates.length + runner.duplicateCreates.length;
    console.log(`# at the kill: ${inFlightAtKill} of 20 creates in flight; re-sent after the restart: ${resent} (${runner.duplicateCreates.length} after an answer the API received)`);
  } finally {
    await c.end();
  }
});
