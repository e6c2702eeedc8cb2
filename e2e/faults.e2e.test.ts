// Fault suite: SIGKILL the API, the runner and PostgreSQL in turn while a client loops through
// create / exec / stop / start / delete. After each restart everything must converge: no sandbox stuck in a
// transitional state, no orphaned container, mount or network namespace, and no lost file in a stopped sandbox.
// Client errors are only tolerated when they are of a class the fault explains (the API being unreachable while it
// is down, say), and after each restart one full create -> exec -> delete must succeed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { settledResources, stableResources, type HostResources } from './src/host-resources.js';
import { assertFullCycle } from './src/full-cycle.js';
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

type Fault = 'api' | 'runner' | 'postgres';

/**
 * The client errors a fault can explain, by class. Anything else (a wrong answer, a 500 while only the runner was
 * down, the API unreachable while only PostgreSQL was) is a failure of the platform, not of the fault.
 */
const ERROR_CLASSES: Record<string, { pattern: RegExp; faults: Fault[] }> = {
  // The API process is gone: the SDK cannot connect, or its connection dies mid-request.
  unreachable: { pattern: /ECONNREFUSED|ECONNRESET|socket hang up|EPIPE|Network Error|other side closed/i, faults: ['api'] },
  // An operation outlived its deadline while a component was down.
  timeout: { pattern: /Operation timed out|within the timeout period/, faults: ['api', 'runner', 'postgres'] },
  // The runner is gone: the API answers for it with a gateway error, or the runner-side action fails with a reason.
  runnerDown: { pattern: /Bad Gateway|Gateway Timeout|Service Unavailable|runner|Sandbox failed to start|failed to start with status/i, faults: ['runner'] },
  // PostgreSQL is gone: the API cannot read or write its state.
  databaseDown: { pattern: /Internal server error|Internal Server Error|Service Unavailable/i, faults: ['postgres'] },
  // An action interrupted by the fault left the sandbox mid-transition; the next call on it is refused, not wrong.
  interrupted: { pattern: /State change in progress|Sandbox is not (running|started|stopped)|not in valid state/, faults: ['api', 'runner', 'postgres'] },
};

function classify(message: string, fault: Fault): string | undefined {
  return Object.entries(ERROR_CLASSES).find(([, c]) => c.faults.includes(fault) && c.pattern.test(message))?.[0];
}

interface LoopResult {
  /** Errors of a class the fault explains, by class. */
  expected: Map<string, number>;
  /** Everything else: each one fails the test. */
  unexpected: string[];
  /** Full iterations (create, write, stop, start, read back, delete) that succeeded. */
  completed: number;
}

/** Loops create / exec / stop / start / exec / delete until `stopAt`, sorting every error by class. */
async function clientLoop(fault: Fault, stopAt: () => number): Promise<LoopResult> {
  const out: LoopResult = { expected: new Map(), unexpected: [], completed: 0 };
  while (Date.now() < stopAt()) {
    try {
      const sb = await platform.sdk().create({ labels: { suite: 'faults' } }, { timeout: 60 });
      const token = randomBytes(6).toString('hex');
      await sb.process.executeCommand(`sh -c "echo ${token} > f.txt"`);
      await sb.stop(60);
      await sb.start(60);
      const r = await sb.process.executeCommand('cat f.txt');
      if (r.result.trim() !== token) out.unexpected.push(`file lost across stop/start in ${sb.id}: read ${JSON.stringify(r.result)}`);
      await sb.delete();
      out.completed++;
    } catch (err) {
      const message = (err as Error).message.slice(0, 300);
      const cls = classify(message, fault);
      if (cls) out.expected.set(cls, (out.expected.get(cls) ?? 0) + 1);
      else out.unexpected.push(message);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return out;
}

/** Waits until the API says it can serve create() again (readiness, not just liveness). */
async function ready(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${platform.apiUrl}/health/ready`).then((r) => r.status, () => 0);
    if (status === 200) return;
    assert.ok(Date.now() < deadline, `platform not ready ${timeoutMs} ms after the restart (last status ${status})`);
    await new Promise((r) => setTimeout(r, 500));
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
    // The loop runs 4 s before the kill and at least 10 s past the restart, so it also meets the platform recovering.
    let stopAt = Number.POSITIVE_INFINITY;
    const loop = clientLoop(fault, () => stopAt);
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
    stopAt = Date.now() + 10_000;
    const result = await loop;
    console.log(`# ${fault}: ${result.completed} full iterations; expected errors ${JSON.stringify(Object.fromEntries(result.expected))}`);
    assert.deepEqual(result.unexpected, [], `errors the ${fault} fault does not explain`);
    const stuck = await converge(90000);
    assert.deepEqual(stuck, [], `sandboxes stuck in a transitional state after the ${fault} fault`);
    await ready(120_000);
    await assertFullCycle(platform, { suite: 'faults', role: 'after-restart' }, `${fault} restart`);
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
