// Pid files of platform processes: the next start ends what a killed supervisor left running, and only that.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { endLeftovers, forgetPid, isRecordedProcess, recordPid } from '../src/leftovers.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a recorded process still running is ended (SIGTERM, then SIGKILL after the grace), runners first', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'leftovers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // One that ends on SIGTERM, one that ignores it (only SIGKILL ends it).
  const polite = spawn('sleep', ['1000'], { stdio: 'ignore' });
  const stubborn = spawn('sh', ['-c', 'trap "" TERM; while :; do sleep 0.1; done'], { stdio: 'ignore' });
  t.after(() => {
    polite.kill('SIGKILL');
    stubborn.kill('SIGKILL');
  });
  await new Promise((r) => setTimeout(r, 200));
  recordPid(join(dir, 'registry.pid'), polite.pid!);
  recordPid(join(dir, 'runner.pid'), stubborn.pid!);
  assert.equal(isRecordedProcess(join(dir, 'registry.pid')), true);
  const lines: string[] = [];
  const ended = await endLeftovers(dir, ['runner', 'api', 'registry'], 1000, (l) => lines.push(l));
  assert.deepEqual(ended, ['runner', 'registry']);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(polite.exitCode !== null || polite.signalCode !== null, true, 'the registry stand-in still runs');
  assert.equal(stubborn.signalCode, 'SIGKILL', 'the process ignoring SIGTERM was not killed');
  assert.deepEqual(await readdir(dir), [], 'pid files of ended processes stay');
  assert.match(lines.join('\n'), /ending runner \(pid \d+\) left running by a previous start/);
});

test('a pid file whose PID now belongs to another process (other start time) ends nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'leftovers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const other = spawn('sleep', ['1000'], { stdio: 'ignore' });
  t.after(() => other.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 100));
  await writeFile(join(dir, 'api.pid'), `${other.pid} 1\n`);
  assert.equal(isRecordedProcess(join(dir, 'api.pid')), false);
  assert.deepEqual(await endLeftovers(dir, ['api'], 500, () => undefined), []);
  assert.equal(alive(other.pid!), true, 'an unrelated process with a reused PID was signalled');
  assert.deepEqual(await readdir(dir), [], 'the stale pid file stays');
});

test('forgetPid removes the file only while it still names that process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'leftovers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  recordPid(join(dir, 'api.pid'), process.pid);
  forgetPid(join(dir, 'api.pid'), process.pid + 1);
  assert.deepEqual(await readdir(dir), ['api.pid']);
  forgetPid(join(dir, 'api.pid'), process.pid);
  assert.deepEqual(await readdir(dir), []);
});
