// Issue 15 (speed), "Bursts": 100 simultaneous creates through the official SDK all succeed on this 2-core machine,
// each answering a command afterwards. Timing is not judged here (bench/ measures it); only that none fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait } from './src/toolbox-helpers.js';

const BURST = 100;
let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
  const auth = { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' };
  const orgs = (await (await fetch(`${platform.apiUrl}/organizations`, { headers: auth })).json()) as Array<{ id: string }>;
  // The default quotas are sized for a person, not for a burst of a hundred.
  const res = await fetch(`${platform.apiUrl}/organizations/${orgs[0]!.id}/quota`, {
    method: 'PATCH',
    headers: auth,
    body: JSON.stringify({ totalCpuQuota: 1000, totalMemoryQuota: 10_000, totalDiskQuota: 100_000 }),
  });
  assert.ok(res.ok, `quota: ${res.status} ${await res.text()}`);
});

after(async () => {
  await platform?.close();
});

test(`${BURST} simultaneous SDK creates all succeed and each sandbox runs a command`, async () => {
  const daytona = platform.sdk();
  const label = { suite: 'burst' };
  const results = await Promise.allSettled(Array.from({ length: BURST }, () => daytona.create({ labels: label }, { timeout: 600 })));
  const made = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error)?.message ?? r.reason)] : []));
  try {
    assert.deepEqual(failures, [], `${failures.length} of ${BURST} creates failed`);
    assert.equal(new Set(made.map((s) => s.id)).size, BURST);
    for (const s of made) assert.equal(s.state, 'started');
    // Ten at a time: the point is that every sandbox works, not another burst.
    for (let i = 0; i < made.length; i += 10) {
      await Promise.all(
        made.slice(i, i + 10).map(async (s: Sandbox) => {
          const r = await s.process.executeCommand(`echo ${s.id}`);
          assert.equal(r.exitCode, 0);
          assert.equal(r.result.trim(), s.id);
        }),
      );
    }
  } finally {
    // Every delete waited for: the runner keeps sandboxes when it exits, so closing early would leak them.
    for (let i = 0; i < made.length; i += 20) await Promise.all(made.slice(i, i + 20).map((s) => deleteAndWait(platform, s)));
  }
});
