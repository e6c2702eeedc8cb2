// Fault suite: SIGKILL the API, the runner and PostgreSQL in turn while a client loops through
// create / exec / stop / start / delete. After each restart everything must converge: no sandbox stuck in a
// transitional state, no orphaned container, mount or network namespace, and no lost file in a stopped sandbox.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { settledResources, stableResources, type HostResources } from './src/host-resources.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

const TRANSITIONAL = new Set(['creating', 'starting', 'stopping', 'destroying', 'pulling_snapshot', 'archiving', 'restoring', 'unknown', 'pending_build', 'building_snapshot']);

let platform: TestPlatform;
let baseline: HostResources;
let keeper: Sandbox;

before(async () => {
  platform = await startTestPlatform({ ownPostgres: true });
  // A stopped sandbox holding a file, present through every fault below.
  keeper = await platform.sdk().create({ labels: { suite: 'faults', role: 'keeper' } });
  await keeper.fs.uploadFile(Buffer.from('keep me\n'), 'keeper.txt');
  await keeper.stop();
  // The baseline is taken with one sandbox created and stopped: the runner's parent cgroups exist from its first
  // sandbox on, while a stopped sandbox holds no mount, netns, veth or process.
  baseline = await stableResources(platform.dataDir);
});

after(async () => {
  await platform?.close();
});

/** One client iteration; errors while a component is down are expected and collected, not fatal. */
async function clientLoop(stopAt: number, errors: string[]): Promise<void> {
  while (Date.now() < stopAt) {
    try {
      const sb = await platform.sdk().create({ labels: { suite: 'faults' } }, { timeout: 60 });
      await sb.process.executeCommand('sh -c "echo hi > f.txt"');
      await sb.stop(60);
      await sb.start(60);
      const r = await sb.process.executeCommand('cat f.txt');
      if (r.result.trim() !== 'hi') errors.push(`file lost across stop/start in ${sb.id}`);
      await sb.delete();
    } catch (err) {
      errors.push((err as Error).message.slice(0, 200));
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function converge(timeoutMs: number): Promise<Array<{ id: string; state: string }>> {
  const deadline = Date.now() + timeoutMs;
  let stuck: Array<{ id: string; state: string }> = [];
  while (Date.now() < deadline) {
    try {
      const page = await platform.sdk().list({ suite: 'faults' }, 1, 200);
      stuck = page.items.filter((s) => TRANSITIONAL.has(String(s.state))).map((s) => ({ id: s.id, state: String(s.state) }));
      if (stuck.length === 0) return [];
    } catch {
      // the API may still be coming up
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return stuck;
}

for (const fault of ['api', 'runner', 'postgres'] as const) {
  test(`SIGKILL of the ${fault} during a create/exec/stop/start/delete loop converges after restart`, async () => {
    const errors: string[] = [];
    const loop = clientLoop(Date.now() + 20000, errors);
    await new Promise((r) => setTimeout(r, 4000));
    if (fault === 'api') {
      await platform.api.kill();
      await new Promise((r) => setTimeout(r, 2000));
      await platform.startApi();
    } else if (fault === 'runner') {
      await platform.runners[0]!.process.kill();
      await new Promise((r) => setTimeout(r, 2000));
      await platform.startRunner(0);
    } else {
      await platform.killPostgres();
      await new Promise((r) => setTimeout(r, 2000));
      await platform.startPostgres();
    }
    await loop;
    const stuck = await converge(90000);
    assert.deepEqual(stuck, [], `sandboxes stuck in a transitional state after the ${fault} fault`);
    assert.ok(!errors.some((e) => e.startsWith('file lost')), errors.join('\n'));
  });
}

test('after the faults the stopped sandbox still has its file, and deleting everything leaves no orphan', async () => {
  const again = await platform.sdk().get(keeper.id);
  if (again.state !== 'started') await again.start(120);
  assert.equal((await again.fs.downloadFile('keeper.txt')).toString(), 'keep me\n');

  const page = await platform.sdk().list({ suite: 'faults' }, 1, 200);
  for (const s of page.items) {
    if (s.state !== 'destroyed' && s.state !== 'destroying') await s.delete().catch(() => undefined);
  }
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const left = (await platform.sdk().list({ suite: 'faults' }, 1, 200)).items.filter((s) => s.state !== 'destroyed');
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const now = await settledResources(platform.dataDir, baseline);
  assert.deepEqual(now, baseline, 'host resources after deleting every sandbox equal those before the first one');
});
