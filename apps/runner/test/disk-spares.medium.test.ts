// Spare disks (storage/quota.ts): a create takes a filesystem made and mounted ahead, never one another sandbox
// used; the runner's close() and the next start's init() leave no spare mounted, attached or on disk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from '../src/util/exec.js';
import { DiskPool, isMounted } from '../src/storage/quota.js';

let dataDir: string;

before(async () => {
  dataDir = await mkdtemp('/var/tmp/shoal-spares-');
});
after(async () => {
  // Whatever a failed run left mounted below the data dir (the pool directory itself is no mount point).
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '');
  for (const m of mounts.filter((p) => p.startsWith(`${dataDir}/`)).reverse()) await exec('umount', [m], { allowFailure: true });
  await rm(dataDir, { recursive: true, force: true });
});

/** Mounts and loop devices of this test's pool, from the kernel's own tables. */
async function hostView(): Promise<{ spareMounts: number; spareMountNames: string[]; loops: number; spareFiles: string[] }> {
  const pool = join(dataDir, 'pool');
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '');
  const loops = (await exec('losetup', ['-a'])).stdout.split('\n').filter((l) => l.includes(pool)).length;
  return {
    spareMounts: mounts.filter((m) => m.startsWith(join(pool, '.spare-'))).length,
    spareMountNames: mounts.filter((m) => m.startsWith(join(pool, '.spare-'))).sort(),
    loops,
    spareFiles: (await readdir(pool)).filter((n) => n.startsWith('.spare-')).sort(),
  };
}

const runNow = (work: () => Promise<void>) => work();

test('creates take spares made ahead, each once and empty; close() and init() leave none behind', async () => {
  const pool = new DiskPool(dataDir);
  await pool.init('auto');
  assert.ok(pool.enforced, `needs loop devices (run the medium tier as root): ${pool.reason}`);

  // The first create of a size has no spare: it makes its own; its size is then kept in stock.
  await pool.prepare('first', 1);
  assert.equal(await isMounted(pool.dir('first')), false);
  await pool.mount('first');
  await writeFile(join(pool.dir('first'), 'secret'), 'first');
  await pool.refill(runNow);
  let view = await hostView();
  assert.equal(view.spareMounts, 2);
  assert.equal(view.spareFiles.filter((n) => n.endsWith('.img')).length, 2);

  // A create of that size gets a mounted, empty filesystem of its own image, sized as asked.
  await pool.prepare('second', 1);
  assert.equal(await isMounted(pool.dir('second')), true);
  assert.deepEqual((await readdir(pool.dir('second'))).filter((n) => n !== 'lost+found'), []);
  const df = await exec('df', ['-B1', '--output=size', pool.dir('second')]);
  const bytes = Number(df.stdout.trim().split('\n')[1]);
  assert.ok(bytes > 0.9 * 1024 ** 3 && bytes <= 1024 ** 3, `size ${bytes}`);
  // The spare's staging mount stays until the next refill (off the create's path) beside the one left in stock.
  view = await hostView();
  assert.equal(view.spareMounts, 2);
  await writeFile(join(pool.dir('second'), 'secret'), 'second');
  await pool.unmount('second');
  // Its staging mount went with it: a sandbox's unmounted disk holds no loop device.
  assert.equal((await hostView()).spareMounts, 1);
  await pool.remove('second');

  // The next one is the other spare: nothing of what the first two wrote.
  await pool.prepare('third', 1);
  assert.deepEqual((await readdir(pool.dir('third'))).filter((n) => n !== 'lost+found'), []);
  const staging = (await hostView()).spareMountNames;
  assert.equal(staging.length, 1);
  await pool.refill(runNow);
  view = await hostView();
  assert.equal(view.spareMounts, 2);
  assert.deepEqual(view.spareMountNames.filter((m) => staging.includes(m)), [], 'the refill unmounted the staging mounts');
  assert.equal((await readdir(pool.dir('third'))).includes('lost+found'), true, 'the sandbox keeps its disk');

  // Another size gets its own stock; the pool stops making spares once not wanted.
  await pool.prepare('other', 2);
  await pool.refill(runNow, () => false);
  assert.equal((await hostView()).spareMounts, 2);

  for (const id of ['first', 'third', 'other']) await pool.remove(id);
  await pool.close();
  assert.deepEqual(await hostView(), { spareMounts: 0, spareMountNames: [], loops: 0, spareFiles: [] });

  // A runner killed with spares in stock: the next start's init() unmounts and deletes them.
  const killed = new DiskPool(dataDir);
  await killed.init('auto');
  await killed.prepare('x', 1);
  await killed.refill(runNow);
  await killed.prepare('y', 1);
  await killed.remove('x');
  // One spare in stock and the staging mount of the one 'y' took; 'y' still runs when the runner is killed.
  assert.equal((await hostView()).spareMounts, 2);
  const next = new DiskPool(dataDir);
  await next.init('auto');
  assert.deepEqual(await hostView(), { spareMounts: 0, spareMountNames: [], loops: 1, spareFiles: [] });
  assert.equal(await isMounted(next.dir('y')), true, "the running sandbox's disk is left alone");
  await next.remove('y');
  assert.equal((await hostView()).loops, 0);
});

test('a disk no sandbox claims (a runner killed before recording its create) goes at the next start, claimed ones stay', async () => {
  const killed = new DiskPool(dataDir);
  await killed.init('auto');
  await killed.prepare('kept', 1);
  await killed.mount('kept');
  await writeFile(join(killed.dir('kept'), 'data'), 'mine');
  await killed.refill(runNow);
  // Bound from a spare, as a create does, and the runner dies before the sandbox's metadata is saved.
  await killed.prepare('ghost', 1);
  assert.equal(await isMounted(killed.dir('ghost')), true);

  const next = new DiskPool(dataDir);
  await next.init('auto');
  assert.equal(await next.removeUnclaimed(async (id) => id === 'kept'), 1);
  assert.equal(await isMounted(next.dir('ghost')), false);
  const pool = join(dataDir, 'pool');
  assert.deepEqual((await readdir(pool)).sort(), ['kept', 'kept.img']);
  assert.equal((await exec('losetup', ['-a'])).stdout.split('\n').filter((l) => l.includes(pool)).length, 1, "only the kept disk's loop device");
  assert.equal(await readFile(join(next.dir('kept'), 'data'), 'utf8'), 'mine');
  await next.remove('kept');
  assert.deepEqual(await readdir(pool), []);
});
