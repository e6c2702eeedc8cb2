// Issue "Runner", scope 9: two runners on one machine registered to one API. Sandboxes spread over both, a runner
// marked unschedulable gets no new sandboxes, and a runner that was down reports its sandboxes correctly when it is back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ runners: 2 });
});

after(async () => {
  await platform?.close();
});

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${platform.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

test('sandboxes spread over both runners; an unschedulable runner gets none; a restarted runner reports correctly', async () => {
  const daytona = platform.sdk();
  const runners = await api<Array<{ id: string; domain: string; state: string }>>('GET', '/runners');
  const ours = runners.filter((r) => platform.runners.some((p) => p.domain === r.domain));
  assert.equal(ours.length, 2);

  // Ten creates at once on two cores: generous waits, timing is not what this test judges.
  const first = await Promise.all(Array.from({ length: 6 }, () => daytona.create({ labels: { suite: 'multi' } }, { timeout: 240 })));
  const domains = new Set(first.map((s) => s.runnerDomain));
  assert.equal(domains.size, 2, `6 sandboxes landed on ${[...domains].join(', ')} only`);

  const cordoned = ours[1]!;
  await api('PATCH', `/runners/${cordoned.id}/scheduling`, { unschedulable: true });
  const second = await Promise.all(Array.from({ length: 4 }, () => daytona.create({ labels: { suite: 'multi' } }, { timeout: 240 })));
  for (const s of second) assert.notEqual(s.runnerDomain, cordoned.domain, 'an unschedulable runner got a new sandbox');
  await api('PATCH', `/runners/${cordoned.id}/scheduling`, { unschedulable: false });

  // Take the cordoned runner's process down and bring it back: its sandboxes must come back reported as they are.
  const index = platform.runners.findIndex((p) => p.domain === cordoned.domain);
  const onIt = first.filter((s) => s.runnerDomain === cordoned.domain);
  await onIt[0]!.stop(240);
  await platform.runners[index]!.process.stop('SIGTERM');
  await platform.startRunner(index);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const states = await Promise.all(onIt.map(async (s) => (await daytona.get(s.id)).state));
    if (states.every((st) => st === 'stopped' || st === 'started')) {
      assert.equal(states[0], 'stopped', 'the sandbox stopped before the restart is reported stopped');
      break;
    }
    assert.ok(Date.now() < deadline, `sandboxes did not settle after the runner restart: ${states.join(', ')}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  // Every sandbox of the restarted runner can be started and used again.
  for (const s of onIt) {
    const fresh = await daytona.get(s.id);
    if (fresh.state !== 'started') await fresh.start(240);
    assert.equal((await fresh.process.executeCommand('echo ok')).result.trim(), 'ok');
  }
  for (const s of [...first, ...second]) await s.delete();
});
