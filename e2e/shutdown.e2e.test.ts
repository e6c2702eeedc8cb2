// Issue 10 "Shutdown leaves nothing", end to end, as a user runs it: `shoal up` (what `npm start` runs) is the leader
// of its own process group, as in a terminal, and the signal goes to the whole group (Ctrl-C: every process of the
// platform gets it at once). With 5 sandboxes started, 3 being created and 2 being deleted, within 20 s of the signal
// no process, mount, netns, bridge, nft table, loop device or cgroup of that platform may be left. Then the same for
// SIGTERM; the operator's choice to keep sandboxes running (re-adopted by the next start); and a SIGKILLed platform,
// whose leftovers the next start ends before it serves. The cases run in order on one data dir (the SIGTERM case
// restarts the SIGINT case's sandboxes): run the file whole, not one case by name.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daytona, type Sandbox } from '@daytonaio/sdk';
import { startPlatform } from '@shoal/platform';
import { pickApiPort, pickSubnetOctet } from './src/harness.js';
import { endPlatformProcesses, leftovers, leftoversAfter, shoalUp, sleep, waitUntilUp, type PlatformIdentity, type Spawned } from './src/platform-process.js';

/** The acceptance bound: from the signal to nothing left. */
const SHUTDOWN_BOUND_MS = 20_000;

let id: PlatformIdentity;
let apiPort: number;
let up: Spawned | undefined;

before(async () => {
  const dataDir = await mkdtemp(join(process.env.SHOAL_TEST_SCRATCH ?? tmpdir(), 'e2e-shutdown-'));
  await chmod(dataDir, 0o755);
  const prefix = `shd${randomBytes(2).toString('hex')}`;
  const subnetOctet = pickSubnetOctet(1);
  id = { dataDir, bridge: `${prefix}0`, subnetOctet };
  apiPort = await pickApiPort();
  // A first start in this process fixes the layout `shoal up` then reuses (a bridge, subnet and ports of this test,
  // not the well-known ones) and puts the default image in this platform's registry.
  const first = await startPlatform({
    dataDir,
    apiPort,
    bridgePrefix: prefix,
    subnetOctet,
    preferWellKnownPorts: false,
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: () => undefined,
  });
  await first.stop();
  assert.deepEqual(leftovers(id), [], 'the in-process start left something behind');
});

after(async () => {
  if (up && up.child.exitCode === null) {
    try {
      process.kill(-up.child.pid!, 'SIGINT');
    } catch {
      // gone
    }
    await Promise.race([up.exit, sleep(30_000)]);
  }
  await endPlatformProcesses(id.dataDir, 'shutdown');
  const left = await leftoversAfter(id, 30_000);
  if (left.length === 0) await rm(id.dataDir, { recursive: true, force: true }).catch(() => undefined);
  else console.error(`[shutdown] left below ${id.dataDir}: ${left.join('; ')}; not removing it`);
});

async function start(extraArgs: string[] = []): Promise<Daytona> {
  up = shoalUp(id.dataDir, apiPort, extraArgs);
  await waitUntilUp(up);
  const creds = JSON.parse(readFileSync(join(id.dataDir, 'credentials.json'), 'utf8')) as { apiUrl: string; apiKey: string };
  return new Daytona({ apiUrl: creds.apiUrl, apiKey: creds.apiKey, target: 'us' });
}

/** Sends `signal` to the whole process group of `shoal up` (as a terminal does) and returns when it was sent. */
function signalGroup(signal: NodeJS.Signals): number {
  process.kill(-up!.child.pid!, signal);
  return Date.now();
}

/** Asserts that within the bound after `sentAt` nothing of the platform is left and `shoal up` exited 0. */
async function assertNothingLeft(sentAt: number, what: string): Promise<void> {
  const left = await leftoversAfter(id, SHUTDOWN_BOUND_MS - (Date.now() - sentAt));
  const elapsed = Date.now() - sentAt;
  assert.deepEqual(left, [], `${what}: left after ${elapsed} ms:\n${left.join('\n')}\n--- shoal up output ---\n${story(up!.out())}`);
  const code = await Promise.race([up!.exit, sleep(1000).then(() => 'running')]);
  assert.equal(code, 0, `shoal up exit code after ${what}:\n${up!.out().slice(-3000)}`);
  console.log(`[shutdown] ${what}: nothing left after ${elapsed} ms`);
}

/** The supervisor's and runner's own lines (not the JSON request logs), for a failure message. */
function story(out: string): string {
  return out
    .split('\n')
    .filter((l) => !/^\[(api|runner|registry)\] \{/.test(l) && !/state report for .* failed/.test(l))
    .slice(-60)
    .join('\n');
}

/** Creates `n` started sandboxes (a few at a time: the host is shared). */
async function createStarted(sdk: Daytona, n: number, label: string): Promise<Sandbox[]> {
  const out: Sandbox[] = [];
  while (out.length < n) {
    const batch = Math.min(3, n - out.length);
    out.push(...(await Promise.all(Array.from({ length: batch }, () => sdk.create({ labels: { suite: 'shutdown', role: label } }, { timeout: 180 })))));
  }
  for (const s of out) assert.equal(s.state, 'started');
  return out;
}

/**
 * Starts `creates` creates and `deletes` deletes and returns once the API shows every one of them in progress
 * (creating / destroying); after a second, at least one of each is enough (a delete may finish before the last create
 * shows up on a loaded machine); after 15 s it returns what it saw last. `history` lists each distinct sample (every
 * in-flight sandbox's state, errors included), for the caller's failure message.
 */
async function workInFlight(sdk: Daytona, creates: number, toDelete: Sandbox[], label: string): Promise<{ creating: number; destroying: number; history: string[] }> {
  const deleteIds = new Set(toDelete.map((s) => s.id));
  // As root: `shoal up` keeps a warm pool of the default snapshot for its `daytona` user, and a claim answers at once;
  // these must be real starts, still running at the signal.
  const failures: string[] = [];
  for (let i = 0; i < creates; i++) {
    void sdk.create({ user: 'root', labels: { suite: 'shutdown', role: `${label}-inflight` } }, { timeout: 120 }).catch((e: Error) => failures.push(`create: ${e.message}`));
  }
  for (const s of toDelete) void s.delete().catch((e: Error) => failures.push(`delete: ${e.message}`));
  const began = Date.now();
  const deadline = began + 15_000;
  let seen = { creating: 0, destroying: 0 };
  const history: string[] = [];
  while (Date.now() < deadline) {
    const all = (await sdk.list()).items;
    const mine = all.filter((s) => s.labels?.role === `${label}-inflight`);
    seen = {
      creating: mine.filter((s) => s.state !== 'started' && s.state !== 'error').length,
      destroying: all.filter((s) => deleteIds.has(s.id) && s.state === 'destroying').length,
    };
    const sample = `creates [${mine.map((s) => s.state + (s.errorReason ? ` (${s.errorReason})` : '')).join(', ')}] deletes [${toDelete.map((d) => all.find((s) => s.id === d.id)?.state ?? 'gone').join(', ')}]`;
    if (history[history.length - 1]?.endsWith(sample) !== true) history.push(`+${Date.now() - began} ms: ${sample}`);
    if (seen.creating === creates && seen.destroying === toDelete.length) break;
    if (seen.creating >= 1 && seen.destroying >= 1 && Date.now() - began > 1000) break;
    await sleep(50);
  }
  return { ...seen, history: [...history, ...failures] };
}

test('SIGINT to the process group with 5 started, 3 being created and 2 being deleted leaves nothing within 20 s', { timeout: 900_000 }, async () => {
  const sdk = await start();
  const started = await createStarted(sdk, 7, 'sigint');
  const inFlight = await workInFlight(sdk, 3, started.slice(5), 'sigint');
  const sentAt = signalGroup('SIGINT');
  console.log(`[shutdown] SIGINT with ${inFlight.creating} create(s) and ${inFlight.destroying} delete(s) in flight`);
  // Work in flight at the signal, not finished before it: otherwise this would only test stopping started sandboxes.
  assert.ok(inFlight.creating >= 1 && inFlight.destroying >= 1, `not enough in flight at the signal: ${inFlight.creating} create(s), ${inFlight.destroying} delete(s); seen:\n${inFlight.history.join('\n')}\n--- shoal up output ---\n${story(up!.out())}`);
  await assertNothingLeft(sentAt, 'SIGINT');
  assert.match(up!.out(), /\[runner\] SIGINT: shutting down \(stopping sandboxes\)/);
});

test('SIGTERM to the process group leaves nothing within 20 s; the sandboxes of the last run are usable again', { timeout: 900_000 }, async () => {
  const sdk = await start();
  // Sandboxes stopped by the last shutdown start again on request and keep working.
  const before = (await sdk.list({ role: 'sigint' })).items;
  assert.ok(before.length >= 5, `sandboxes of the last run missing: ${before.length}`);
  const again = before[0]!;
  if (again.state !== 'started') await again.start(120);
  assert.equal((await again.process.executeCommand('echo back')).result.trim(), 'back');
  const more = await createStarted(sdk, 2, 'sigterm');
  const inFlight = await workInFlight(sdk, 2, more.slice(1), 'sigterm');
  const sentAt = signalGroup('SIGTERM');
  console.log(`[shutdown] SIGTERM with ${inFlight.creating} create(s) and ${inFlight.destroying} delete(s) in flight`);
  await assertNothingLeft(sentAt, 'SIGTERM');
});

test('with --keep-sandboxes a sandbox outlives Ctrl-C and the next start re-adopts it, same processes', { timeout: 900_000 }, async () => {
  let sdk = await start(['--keep-sandboxes']);
  const [kept] = await createStarted(sdk, 1, 'kept');
  // A background process: re-adoption must keep it, a restart of the sandbox would not.
  const sleeper = (await kept!.process.executeCommand("sh -c 'sleep 100000 >/dev/null 2>&1 </dev/null & echo $!'")).result.trim();
  assert.match(sleeper, /^\d+$/);
  const sentAt = signalGroup('SIGINT');
  // The platform's own processes go; the sandbox, its network and its mounts stay.
  for (let i = 0; i < 80 && up!.child.exitCode === null; i++) await sleep(250);
  assert.equal(up!.child.exitCode, 0, up!.out().slice(-3000));
  const left = leftovers(id);
  console.log(`[shutdown] --keep-sandboxes: ${Date.now() - sentAt} ms to exit; kept: ${left.map((l) => l.split(':')[0]).join(', ')}`);
  assert.ok(!left.some((l) => l.startsWith('platform processes')), `platform processes left: ${left.join('\n')}`);
  assert.ok(left.some((l) => l.startsWith('sandbox processes')), `the kept sandbox is not running: ${left.join('\n')}`);
  assert.ok(left.some((l) => l.startsWith('bridge')), 'the kept sandbox lost its bridge');

  // The next start (stop-on-exit, the default) re-adopts it: the same background process still answers.
  sdk = await start();
  const back = await sdk.get(kept!.id);
  assert.equal(back.state, 'started');
  assert.equal((await back.process.executeCommand(`kill -0 ${sleeper} && echo alive`)).result.trim(), 'alive');
  await assertNothingLeft(signalGroup('SIGINT'), 'SIGINT after re-adoption');
});

test('a SIGKILLed platform is cleaned by the next start: registry and PostgreSQL ended, sandboxes re-adopted, then nothing left', { timeout: 900_000 }, async () => {
  let sdk = await start();
  const [survivor] = await createStarted(sdk, 1, 'sigkill');
  signalGroup('SIGKILL');
  await up!.exit;
  // PostgreSQL and the registry run in process groups of their own (so Ctrl-C cannot take them away too early):
  // a SIGKILL of the group leaves them, and the runner's sandbox keeps running.
  await sleep(500);
  const left = leftovers(id);
  assert.ok(left.some((l) => l.startsWith('platform processes')), `expected PostgreSQL and the registry to outlive SIGKILL: ${left.join('\n')}`);
  sdk = await start();
  assert.match(up!.out(), /ending registry \(pid \d+\) left running by a previous start/);
  const back = await sdk.get(survivor!.id);
  if (back.state !== 'started') await back.start(120);
  assert.equal((await back.process.executeCommand('echo survived')).result.trim(), 'survived');
  await assertNothingLeft(signalGroup('SIGINT'), 'SIGINT after a SIGKILLed run');
});
