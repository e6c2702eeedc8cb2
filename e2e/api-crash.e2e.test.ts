// Issue "Control plane", acceptance 3: SIGKILL the API in the middle of creating 20 sandboxes, start it again, and every
// sandbox ends `started` or `error` with a reason — none stuck in a transitional state, none created twice on the runner.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
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

test('SIGKILL of the API while 20 sandboxes are being created: all converge, none is created twice', async () => {
  const label = `crash-${Date.now()}`;
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
  await new Promise((r) => setTimeout(r, 700));
  await platform.api.kill();
  const statuses = await Promise.all(creates);
  await platform.startApi();

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
});
