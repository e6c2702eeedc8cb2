// Issue "Control plane", acceptance 3: SIGKILL the API in the middle of creating 20 sandboxes, start it again, and every
// sandbox ends `started` or `error` with a reason — none stuck in a transitional state, none created twice on the runner.
// The kill waits for evidence that work is in flight (claimed, unfinished rows in the database), the test checks that
// some creates really lost their answer, and after the restart one full create -> exec -> delete must succeed.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { assertFullCycle } from './src/full-cycle.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});

after(async () => {
  await platform?.close();
});

interface Row {
  id: string;
  state: string;
  errorReason?: string;
}

async function listRun(label: string): Promise<Row[]> {
  const q = new URLSearchParams({ labels: JSON.stringify({ crash: label }), limit: '200' });
  const res = await fetch(`${platform.apiUrl}/sandbox/paginated?${q}`, { headers: { authorization: `Bearer ${platform.apiKey}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { items: Row[] }).items;
}

/** Rows of this run that are not settled yet, and how many of them an API process holds a claim on (is working on). */
async function inFlight(db: pg.Client, label: string): Promise<{ unsettled: number; claimed: number }> {
  const r = await db.query(
    `SELECT count(*)::int AS unsettled, count(claimed_by)::int AS claimed FROM sandbox
      WHERE labels->>'crash' = $1 AND state NOT IN ('started', 'error', 'destroyed')`,
    [label],
  );
  return r.rows[0] as { unsettled: number; claimed: number };
}

test('SIGKILL of the API while 20 sandboxes are being created: all converge, none is created twice', async () => {
  const label = `crash-${Date.now()}`;
  const db = new pg.Client({ connectionString: platform.databaseUrl });
  await db.connect();
  try {
    // Fire the creates without waiting for them: the API dies while some are inserted, some claimed, some running.
    const creates = Array.from({ length: 20 }, () =>
      fetch(`${platform.apiUrl}/sandbox`, {
        method: 'POST',
        headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ labels: { crash: label }, env: {} }),
      }).then(
        (r) => r.status,
        () => 0,
      ),
    );
    // Kill only once the reconciler is working on several creates (claimed in the database, runner calls running);
    // a fixed sleep could kill an API that had not even received them on a loaded host.
    const deadline = Date.now() + 60_000;
    let atKill = await inFlight(db, label);
    while (atKill.claimed < 3) {
      assert.ok(Date.now() < deadline, `creates never got in flight: ${JSON.stringify(atKill)}`);
      await new Promise((r) => setTimeout(r, 50));
      atKill = await inFlight(db, label);
    }
    await platform.api.kill();
    const statuses = await Promise.all(creates);
    const lost = statuses.filter((s) => s === 0).length;
    console.log(`# at the kill: ${atKill.unsettled} unsettled, ${atKill.claimed} claimed; ${lost} of 20 creates lost their answer`);
    assert.ok(atKill.unsettled > 0 && atKill.claimed > 0, 'work was in flight in the database at the kill');
    assert.ok(lost > 0, 'some creates were still waiting for their answer when the API died');
    await platform.startApi();
    await convergeAndCheck(label, statuses);
    await assertFullCycle(platform, { crash: 'after-restart' }, 'API restart');
  } finally {
    await db.end();
  }
});

async function convergeAndCheck(label: string, statuses: number[]): Promise<void> {
  const accepted = statuses.filter((s) => s === 200).length;
  const deadline = Date.now() + 180_000;
  let rows: Row[] = [];
  for (;;) {
    rows = await listRun(label);
    const settled = rows.every((r) => r.state === 'started' || r.state === 'error');
    if (settled && rows.length >= accepted) break;
    assert.ok(Date.now() < deadline, `not converged: ${JSON.stringify(rows.map((r) => r.state))}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(rows.length >= accepted, `${accepted} creates were answered 200 but only ${rows.length} rows exist`);
  for (const r of rows) {
    if (r.state === 'error') assert.ok(r.errorReason && r.errorReason.length > 0, `sandbox ${r.id} in error without a reason`);
  }
  // Each sandbox exists at most once on the runner: one directory per sandbox id, no strays.
  const onRunner = await readdir(join(platform.dataDir, 'runner', 'sandboxes')).catch(() => [] as string[]);
  const ids = new Set(rows.map((r) => r.id));
  const strays = onRunner.filter((d) => !ids.has(d) && !d.startsWith('.'));
  assert.deepEqual(strays, [], 'runner holds sandboxes the API does not know');
  const started = rows.filter((r) => r.state === 'started');
  for (const r of started) assert.ok(onRunner.includes(r.id), `started sandbox ${r.id} has no runner directory`);

  for (const r of rows) {
    await fetch(`${platform.apiUrl}/sandbox/${r.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
  }
}
