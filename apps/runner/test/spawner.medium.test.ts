import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exec, ExecError } from '../src/util/exec.js';
import { acquireSpawner } from '../src/util/spawner.js';

/** The spawner started with `tag` on its command line (found as the leftover checks find a runner's processes). */
function spawnerPids(tag: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('spawner-child.mjs')) && argv.includes(tag)) out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}

const parentOf = async () => Number((await exec('sh', ['-c', 'echo $PPID'])).stdout.trim());

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ok(), what);
}

test('while acquired, exec runs programs from the spawner with the same results as a direct spawn; after release, directly again', async () => {
  const tag = `spawner-test-${process.pid}-a`;
  assert.equal(await parentOf(), process.pid);
  const release = acquireSpawner(tag);
  try {
    const [pid] = spawnerPids(tag);
    assert.ok(pid, 'the spawner runs');
    assert.equal(await parentOf(), pid, 'the program is the spawner\'s child, not the runner\'s');

    const dir = await mkdtemp(join(tmpdir(), 'shoal-spawner-'));
    try {
      const r = await exec('sh', ['-c', 'cat; printf " %s %s" "$FOO" "$(pwd)"; echo err >&2'], { input: 'in', env: { FOO: 'bar', PATH: '/usr/bin:/bin' }, cwd: dir });
      assert.deepEqual(r, { code: 0, stdout: `in bar ${dir}`, stderr: 'err\n' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // The runner's own environment never reaches its tools unless given.
    assert.equal((await exec('sh', ['-c', 'echo "${NODE_OPTIONS-unset}"'])).stdout.trim(), 'unset');
    // A program in a session of its own, as direct spawns are.
    const [sid, self] = (await exec('sh', ['-c', 'echo $(ps -o sid= -p $$) $$'])).stdout.trim().split(/\s+/);
    assert.equal(sid, self);

    assert.equal((await exec('sh', ['-c', 'exit 3'], { allowFailure: true })).code, 3);
    await assert.rejects(exec('sh', ['-c', 'echo nope >&2; exit 4']), (e: unknown) => e instanceof ExecError && e.result.code === 4 && /nope/.test(e.message));
    await assert.rejects(exec('/nonexistent/tool', []), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');

    // Many at once: each answer goes to its own caller.
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) => exec('sh', ['-c', `echo ${i}`])));
    assert.deepEqual(
      many.map((r) => r.stdout.trim()),
      Array.from({ length: 40 }, (_, i) => String(i)),
    );
  } finally {
    await release();
  }
  await until('the spawner exits once released', () => spawnerPids(tag).length === 0);
  assert.equal(await parentOf(), process.pid);
});

test('a spawner that dies fails only the runs it held; later runs spawn directly', async () => {
  const tag = `spawner-test-${process.pid}-b`;
  const release = acquireSpawner(tag);
  try {
    const [pid] = spawnerPids(tag);
    assert.ok(pid);
    const held = exec('sleep', ['5']);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid!, 'SIGKILL');
    await assert.rejects(held, /spawner exited/);
    assert.equal(await parentOf(), process.pid);
  } finally {
    await release();
  }
});
