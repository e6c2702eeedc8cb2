// Volumes end to end with the official SDK (issue 13, acceptance 1): the SDK's `volumes` example flow. volume.get(name,
// true) creates the volume; two sandboxes mount it at different paths and see each other's files live; the sandbox
// user (non-root `daytona`) writes into it; after both are deleted a third sandbox still sees the files; deleting the
// volume while a sandbox holds it is refused, afterwards it succeeds and its data leaves the runner's disk.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Daytona, Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;
let daytona: Daytona;
const sandboxes: Sandbox[] = [];

before(async () => {
  platform = await startTestPlatform();
  daytona = platform.sdk();
});

after(async () => {
  for (const sb of sandboxes) await sb.delete().catch(() => undefined);
  await platform?.close();
});

/** Entries of the local driver's store (`<dataDir>/volumes/{images,mnt}`) that belong to `volumeId`. */
async function onDisk(volumeId: string): Promise<string[]> {
  const found: string[] = [];
  for (const sub of ['images', 'mnt']) {
    const entries = await readdir(join(platform.dataDir, 'volumes', sub)).catch(() => [] as string[]);
    found.push(...entries.filter((e) => e.includes(volumeId)).map((e) => `${sub}/${e}`));
  }
  return found;
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const out = await fn();
  console.log(`[volumes] ${label}: ${Date.now() - t0} ms`);
  return out;
}

test('the SDK volumes example: shared files across sandboxes and their lifetimes; deletion refused while mounted', async () => {
  const name = `e2e-vol-${Date.now().toString(36)}`;
  // get(name, true): 404 with the exact message, then POST /volumes; the SDK never waits for `ready`.
  const volume = await timed('volume.get(name, true)', () => daytona.volume.get(name, true));
  assert.equal(volume.name, name);
  assert.equal(volume.state, 'ready', 'usable at once: the SDK mounts it right away');
  assert.equal((await daytona.volume.get(name)).id, volume.id);

  const mount1 = '/home/daytona/volume';
  const mount2 = '/home/daytona/my-files';
  const first = await timed('create sandbox 1 with the volume', () => daytona.create({ language: 'typescript', volumes: [{ volumeId: volume.id, mountPath: mount1 }] }));
  sandboxes.push(first);
  assert.deepEqual(first.volumes?.map((v) => [v.volumeId, v.mountPath]), [[volume.id, mount1]]);

  await first.fs.createFolder(`${mount1}/new-dir`, '755');
  const content = Buffer.from(`shared through ${volume.id}\n`);
  await first.fs.uploadFile(content, `${mount1}/new-dir/hello.txt`);

  // By name this time: resolved to the id by the API.
  const second = await timed('create sandbox 2 with the volume (by name)', () => daytona.create({ language: 'typescript', volumes: [{ volumeId: name, mountPath: mount2 }] }));
  sandboxes.push(second);
  assert.deepEqual(second.volumes?.map((v) => [v.volumeId, v.mountPath]), [[volume.id, mount2]]);
  const listed = await second.fs.listFiles(`${mount2}/new-dir`);
  assert.deepEqual(listed.map((f) => f.name), ['hello.txt']);
  assert.deepEqual(await second.fs.downloadFile(`${mount2}/new-dir/hello.txt`), content);

  // The sandbox user (not root) writes in the volume with a shell command; the other sandbox sees it live.
  const who = await second.process.executeCommand('id -un; id -u');
  assert.equal(who.exitCode, 0, who.result);
  const [user, uid] = who.result.trim().split('\n');
  assert.equal(user, 'daytona');
  assert.notEqual(uid, '0');
  const wrote = await second.process.executeCommand(`sh -c 'echo from-second > ${mount2}/new-dir/by-user.txt && mkdir -p ${mount2}/deep/er && ls -ln ${mount2}/new-dir'`);
  assert.equal(wrote.exitCode, 0, wrote.result);
  const seen = await first.process.executeCommand(`cat ${mount1}/new-dir/by-user.txt`);
  assert.equal(seen.exitCode, 0, seen.result);
  assert.equal(seen.result.trim(), 'from-second');
  // The first sandbox's user may change what the second one's user wrote (per-sandbox uid mapping, one owner).
  const appended = await first.process.executeCommand(`sh -c 'echo from-first >> ${mount1}/new-dir/by-user.txt && rmdir ${mount1}/deep/er'`);
  assert.equal(appended.exitCode, 0, appended.result);

  // Deleting while mounted is refused with a clear message, and changes nothing.
  await assert.rejects(daytona.volume.delete(volume), (err: Error) => /in use by sandbox\(es\)/.test(err.message) && err.message.includes(first.id) === true);
  assert.equal((await daytona.volume.get(name)).state, 'ready');
  assert.ok((await onDisk(volume.id)).length > 0, 'the local driver keeps the volume under <dataDir>/volumes');

  await timed('delete both sandboxes', () => Promise.all([first.delete(), second.delete()]));

  const third = await timed('create sandbox 3 with the volume', () => daytona.create({ language: 'typescript', volumes: [{ volumeId: volume.id, mountPath: '/data/vol' }] }));
  sandboxes.push(third);
  assert.deepEqual(await third.fs.downloadFile('/data/vol/new-dir/hello.txt'), content);
  const both = await third.process.executeCommand('cat /data/vol/new-dir/by-user.txt');
  assert.equal(both.result.trim(), 'from-second\nfrom-first');
  await third.delete();

  // Deleting the sandbox ends once the runner released it; until then the volume is still in use.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await daytona.volume.delete(volume);
      break;
    } catch (err) {
      if (!/in use/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const gone = Date.now() + 60_000;
  for (;;) {
    const all = (await daytona.volume.list()) as Array<{ id: string }>;
    if (!all.some((v) => v.id === volume.id)) break;
    if (Date.now() > gone) assert.fail('the volume was never deleted');
    await new Promise((r) => setTimeout(r, 250));
  }
  await assert.rejects(daytona.volume.get(name), /Volume with name .* not found/);
  assert.deepEqual(await onDisk(volume.id), [], "the volume's data left the runner's disk");
});

test('bad mounts are refused by the API before anything runs', async () => {
  const volume = await daytona.volume.get(`e2e-vol-bad-${Date.now().toString(36)}`, true);
  for (const [mountPath, message] of [
    ['/', /whole sandbox filesystem/],
    ['/proc', /system directory \/proc/],
    ['../x', /must be absolute/],
    ['relative/path', /must be absolute/],
  ] as const) {
    await assert.rejects(daytona.create({ volumes: [{ volumeId: volume.id, mountPath }] }), (err: Error) => message.test(err.message), mountPath);
  }
  await assert.rejects(daytona.create({ volumes: [{ volumeId: 'no-such-volume-anywhere', mountPath: '/data' }] }), /Volume 'no-such-volume-anywhere' not found/);
  await daytona.volume.delete(volume);
});
