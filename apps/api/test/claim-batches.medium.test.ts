import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTenant, type FakeRunnerApp, startFakeRunnerApp } from './helpers/app.js';
import type { FakeRunner } from './helpers/fake-runner.js';

/*
 * Concurrent creates of one organization claim pooled sandboxes in batches (services/claim-batcher.ts): each still
 * gets its own sandbox, its own labels, or its own quota error, and the quotas hold across the batch.
 */

const TOKEN = 'claim-batches-runner-token';
const POOL = 8;
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

async function readyPooled(): Promise<Set<string>> {
  const { rows } = await sql.query<{ id: string }>(`SELECT id FROM sandbox WHERE warm_pool_id IS NOT NULL AND state = 'started' AND desired_state = 'started'`);
  return new Set(rows.map((r) => r.id));
}

async function fullPool(): Promise<Set<string>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await readyPooled();
    if (ready.size >= POOL) return ready;
    assert.ok(Date.now() < deadline, `the pool has ${ready.size} of ${POOL}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('concurrent creates of one organization: each its own pooled sandbox and labels, and the quota holds exactly', async () => {
  const t = await createTenant(app, 'claim-batches');
  const { rows: snap } = await sql.query<{ cpu: number }>(`SELECT cpu FROM snapshot WHERE general AND state = 'active' LIMIT 1`);
  const allowed = 5;
  // Room for exactly five sandboxes of the default snapshot, whatever its size.
  await sql.query(`UPDATE organization SET total_cpu_quota = $2, total_memory_quota = 10000, total_disk_quota = 100000 WHERE id = $1`, [t.organizationId, allowed * snap[0]!.cpu]);
  const pooled = await fullPool();
  const coldBefore = runner.calls.filter((c) => c.method === 'POST' && c.path === '/sandboxes').length;

  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => app.inject({ method: 'POST', url: '/api/sandbox', headers: t.auth, payload: { labels: { n: String(i) } } })),
  );
  const ok = answers.filter((r) => r.statusCode === 200).map((r) => r.json() as { id: string; labels: Record<string, string>; organizationId: string });
  const refused = answers.filter((r) => r.statusCode !== 200);
  assert.equal(ok.length, allowed, answers.map((r) => `${r.statusCode} ${r.body.slice(0, 120)}`).join('\n'));
  for (const r of refused) {
    assert.equal(r.statusCode, 403, r.body);
    assert.match((r.json() as { message: string }).message, /Total CPU quota exceeded/);
  }
  assert.equal(new Set(ok.map((s) => s.id)).size, allowed, 'no sandbox handed out twice');
  for (const s of ok) {
    assert.ok(pooled.has(s.id), `${s.id} came from the pool`);
    assert.equal(s.organizationId, t.organizationId);
  }
  // Each answer carries its own request's labels, and the rows agree.
  const labels = ok.map((s) => s.labels.n).sort();
  assert.equal(new Set(labels).size, allowed);
  const { rows } = await sql.query<{ id: string; labels: Record<string, string> }>(`SELECT id, labels FROM sandbox WHERE organization_id = $1`, [t.organizationId]);
  assert.equal(rows.length, allowed);
  for (const s of ok) assert.deepEqual(rows.find((r) => r.id === s.id)?.labels, s.labels);
  // Nothing went cold for this organization: the refused ones made no sandbox.
  const coldForTenant = runner.calls.slice(coldBefore).filter((c) => c.method === 'POST' && c.path === '/sandboxes' && c.body.includes(t.organizationId));
  assert.deepEqual(coldForTenant, []);
});
