import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUCKET, SERVICE, startTestServer, type TestServer } from '../../objects/test/helpers.js';
import { exec } from '../src/util/exec.js';
import { api, crunExec, destroyRunner, requireRoot, sandboxBody, startRegistry, startRunner, toolboxExec, type TestRunner } from './helpers.js';

const VOL = 'vol-e2e-1';

/** Runs a shell script as the sandbox user (the toolbox's execute takes one command, not a script). */
function sh(t: TestRunner, id: string, script: string, timeout = 60) {
  return toolboxExec(t, id, `sh -c '${script.replace(/'/g, `'\\''`)}'`, timeout);
}

/**
 * The first e2e file of a run builds and pushes the default image inside this call, which can outlast one HTTP timeout
 * on a loaded host; the pull is idempotent, so a second call finishes what the first started.
 */
async function pullDefault(t: TestRunner, image: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const pulled = await api(t, 'POST', '/snapshots/pull', { snapshot: image }).catch((err: Error) => ({ status: 0, body: err.message }));
    if (pulled.status === 200 || attempt === 2) {
      assert.equal(pulled.status, 200, JSON.stringify(pulled.body));
      return;
    }
  }
}

/**
 * Mount points under `dir` on the host, but for the runner's spare disks (made ahead for its next creates and
 * unmounted when it stops; storage/quota.ts): they belong to no sandbox or volume.
 */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => (m === dir || m.startsWith(`${dir}/`)) && !m.includes('/pool/.spare-'));
}

// The local volume driver with real crun, loop devices and idmapped mounts: needs root (the e2e tier runs as root).
describe('runner volumes, local driver (e2e)', { timeout: 10 * 60_000 }, () => {
  before(requireRoot);
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let t: TestRunner;
  let image: string;
  let volumesDir: string;
  let canary: string;

  before(async () => {
    registry = await startRegistry();
    image = `${registry.host}/shoal/sandbox:0.1.0`;
    const dataDir = await mkdtemp('/var/tmp/shoal-runner-vol-');
    volumesDir = `${dataDir}-volumes`;
    canary = await mkdtemp('/var/tmp/shoal-vol-canary-');
    t = await startRunner({
      SHOAL_RUNNER_DATA_DIR: dataDir,
      SHOAL_RUNNER_BRIDGE: 'shlvol',
      SHOAL_RUNNER_SUBNET: '10.241.0.0/16',
      SHOAL_DEFAULT_IMAGE: image,
      SHOAL_VOLUMES_DIR: volumesDir,
      // Small, so that filling one takes a moment.
      SHOAL_VOLUME_SIZE_GIB: '0.125',
    });
    await pullDefault(t, image);
  });

  after(async () => {
    if (t) await destroyRunner(t);
    if (registry) await registry.stop();
    await rm(volumesDir, { recursive: true, force: true });
    await rm(canary, { recursive: true, force: true });
  });

  it('refuses bad volume mounts with 400 and creates nothing', async () => {
    const bad = [
      [{ volumeId: VOL, mountPath: '/data', subpath: '../x' }],
      [{ volumeId: VOL, mountPath: '/data', subpath: 'a/../../x' }],
      [{ volumeId: VOL, mountPath: '/data', subpath: '/etc' }],
      [{ volumeId: VOL, mountPath: 'data' }],
      [{ volumeId: VOL, mountPath: '/' }],
      [{ volumeId: VOL, mountPath: '/proc/x' }],
      [{ volumeId: VOL, mountPath: '/data/../etc' }],
      [{ volumeId: '../../etc', mountPath: '/data' }],
      [{ volumeId: VOL, mountPath: '/a' }, { volumeId: VOL, mountPath: '/a' }],
    ];
    for (const volumes of bad) {
      const r = await api(t, 'POST', '/sandboxes', sandboxBody('vol-bad', image, { volumes }));
      assert.equal(r.status, 400, `${JSON.stringify(volumes)} -> ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal((r.body as { statusCode: number }).statusCode, 400);
    }
    assert.equal((await api(t, 'GET', '/sandboxes/vol-bad')).status, 404);
    assert.deepEqual(await readdir(join(volumesDir, 'images')), []);
    assert.equal((await api(t, 'DELETE', '/volumes/..%2Fetc')).status, 400);
  });

  it('two sandboxes see one volume at different paths, live, with POSIX semantics and their own user', async () => {
    const a = await api(t, 'POST', '/sandboxes', sandboxBody('vol-a', image, { volumes: [{ volumeId: VOL, mountPath: '/home/daytona/volume' }] }));
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const b = await api(t, 'POST', '/sandboxes', sandboxBody('vol-b', image, { volumes: [{ volumeId: VOL, mountPath: '/mnt/shared' }] }));
    assert.equal(b.status, 201, JSON.stringify(b.body));
    const metaA = t.runner.sandboxes.all().find((s) => s.meta.id === 'vol-a')!.meta;
    const metaB = t.runner.sandboxes.all().find((s) => s.meta.id === 'vol-b')!.meta;
    assert.notEqual(metaA.uidBase, metaB.uidBase, 'each sandbox has its own host uid range');

    // The sandbox user (not root) writes, appends, makes a directory, renames and chmods.
    const w = await sh(t,
      'vol-a',
      'cd /home/daytona/volume && echo one > f.txt && echo two >> f.txt && mkdir -p d/e && mv f.txt d/e/g.txt && chmod 640 d/e/g.txt && id -un',
    );
    assert.equal(w.exitCode, 0, w.result);
    assert.equal(w.result.trim(), 'daytona');
    const r = await sh(t, 'vol-b', 'cat /mnt/shared/d/e/g.txt && stat -c "%U %a" /mnt/shared/d/e/g.txt && ls /mnt/shared');
    assert.equal(r.exitCode, 0, r.result);
    assert.deepEqual(r.result.trim().split('\n'), ['one', 'two', 'daytona 640', 'd']);
    // And back: B's write is A's file, which A's user may change.
    const back = await sh(t, 'vol-b', 'echo three >> /mnt/shared/d/e/g.txt && mv /mnt/shared/d /mnt/shared/renamed');
    assert.equal(back.exitCode, 0, back.result);
    const seen = await sh(t, 'vol-a', 'tail -n1 /home/daytona/volume/renamed/e/g.txt && chmod 600 /home/daytona/volume/renamed/e/g.txt');
    assert.equal(seen.exitCode, 0, seen.result);
    assert.equal(seen.result.trim(), 'three');

    // On disk the files belong to the canonical range (the runner's legacy base), so any sandbox maps them as its own.
    const onDisk = await stat(join(volumesDir, 'mnt', VOL, 'renamed', 'e', 'g.txt'));
    assert.equal(onDisk.uid, t.cfg.uidBase + 1000);
    // Nothing of the host's credentials is in the sandbox: the volume is files only.
    const mounts = await sh(t, 'vol-b', 'grep " /mnt/shared " /proc/self/mountinfo');
    assert.match(mounts.result, /\/mnt\/shared/);
  });

  it('a subpath mounts only that directory (created on first use)', async () => {
    const c = await api(t, 'POST', '/sandboxes', sandboxBody('vol-c', image, { volumes: [{ volumeId: VOL, mountPath: '/sub', subpath: 'sub/dir' }] }));
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const w = await sh(t, 'vol-c', 'echo in-sub > /sub/s.txt && ls /sub');
    assert.equal(w.exitCode, 0, w.result);
    assert.equal(w.result.trim(), 's.txt');
    const r = await sh(t, 'vol-a', 'cat /home/daytona/volume/sub/dir/s.txt');
    assert.equal(r.result.trim(), 'in-sub');
  });

  it('a symlink the sandbox planted in the volume does not lead a subpath out of the volume', async () => {
    // Sandbox A makes `escape` -> / inside the volume; a sandbox that mounts subpath escape/tmp must not get the host's /tmp.
    const plant = await sh(t, 'vol-a', 'ln -s / /home/daytona/volume/escape && ln -s /var /home/daytona/volume/sub/dir/up');
    assert.equal(plant.exitCode, 0, plant.result);
    for (const subpath of ['escape/tmp', 'escape', 'sub/dir/up']) {
      const r = await api(t, 'POST', '/sandboxes', sandboxBody('vol-esc', image, { volumes: [{ volumeId: VOL, mountPath: '/esc', subpath }] }));
      assert.notEqual(r.status, 201, `subpath ${subpath} through a symlink was mounted`);
      await api(t, 'DELETE', '/sandboxes/vol-esc');
    }
  });

  it('a symlink planted at the mount path does not move the mount onto the host', async () => {
    const d = await api(t, 'POST', '/sandboxes', sandboxBody('vol-d', image, { volumes: [{ volumeId: VOL, mountPath: '/work/evil' }] }));
    assert.equal(d.status, 201, JSON.stringify(d.body));
    // A previous run (root in the sandbox) replaces /work (made by the runtime for the mount) by a symlink to a path
    // that exists on the host (and, so that the start can succeed, inside the sandbox too).
    const plant = await crunExec(t, 'vol-d', `mv /work /work-old && mkdir -p ${canary} && ln -s ${canary} /work`);
    assert.equal(plant.code, 0, plant.stderr);
    assert.equal((await api(t, 'POST', '/sandboxes/vol-d/stop')).status, 200);
    const started = await api(t, 'POST', '/sandboxes/vol-d/start');
    assert.equal(started.status, 200, JSON.stringify(started.body));
    // The host's directory is untouched and nothing is mounted on it...
    assert.deepEqual(await readdir(canary), []);
    assert.deepEqual(await mountsUnder(canary), []);
    // ...and the sandbox sees the volume where the symlink points inside its own root.
    const r = await sh(t, 'vol-d', `ls /work/evil/ && ls ${canary}/evil/renamed`);
    assert.equal(r.exitCode, 0, r.result);
    assert.match(r.result, /renamed/);
  });

  it('a full volume gives ENOSPC inside the sandbox', async () => {
    const r = await sh(t, 'vol-b', 'dd if=/dev/zero of=/mnt/shared/fill bs=1M count=200 2>&1; echo "exit=$?"; rm -f /mnt/shared/fill', 120);
    assert.match(r.result, /No space left on device/);
    assert.match(r.result, /exit=1/);
  });

  it('keeps its volumes across stop and start (persisted in the sandbox meta)', async () => {
    assert.equal((await api(t, 'POST', '/sandboxes/vol-a/stop')).status, 200);
    assert.equal((await api(t, 'POST', '/sandboxes/vol-a/start')).status, 200);
    const r = await sh(t, 'vol-a', 'cat /home/daytona/volume/sub/dir/s.txt');
    assert.equal(r.result.trim(), 'in-sub');
  });

  it('refuses to delete a mounted volume (409), deletes it once unused, and leaves nothing behind', async () => {
    const busy = await api(t, 'DELETE', `/volumes/${VOL}`);
    assert.equal(busy.status, 409, JSON.stringify(busy.body));
    for (const id of ['vol-a', 'vol-b', 'vol-c', 'vol-d']) assert.equal((await api(t, 'DELETE', `/sandboxes/${id}`)).status, 200);
    // Every sandbox is gone: so is the shared loop mount.
    assert.deepEqual(await mountsUnder(volumesDir), []);
    const gone = await api(t, 'DELETE', `/volumes/${VOL}`);
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.deepEqual(await readdir(join(volumesDir, 'images')), []);
    // Other tests may run beside this one: count only what is ours.
    assert.deepEqual(await mountsUnder(t.cfg.dataDir), []);
    const loops = (await exec('losetup', ['-a'])).stdout.split('\n').filter((l) => l.includes(volumesDir));
    assert.deepEqual(loops, []);
  });
});

// The s3 driver against Shoal's embedded object storage (apps/objects), mounted with Debian's s3fs.
describe('runner volumes, s3 driver (e2e)', { timeout: 10 * 60_000 }, () => {
  before(requireRoot);
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let objects: TestServer;
  let t: TestRunner;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    image = `${registry.host}/shoal/sandbox:0.1.0`;
    objects = await startTestServer();
    t = await startRunner({
      SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-vol-s3-'),
      SHOAL_RUNNER_BRIDGE: 'shlvols',
      SHOAL_RUNNER_SUBNET: '10.243.0.0/16',
      SHOAL_DEFAULT_IMAGE: image,
      SHOAL_VOLUME_DRIVER: 's3',
      SHOAL_S3_URL: objects.running.url,
      SHOAL_S3_ACCESS_KEY: SERVICE.accessKey,
      SHOAL_S3_SECRET_KEY: SERVICE.secret,
      SHOAL_S3_BUCKET: BUCKET,
    });
    await pullDefault(t, image);
  });

  after(async () => {
    if (t) await destroyRunner(t);
    if (objects) await objects.stop();
    if (registry) await registry.stop();
  });

  it('two sandboxes share files through the bucket; the credentials stay on the host; nothing is left after delete', async () => {
    const vol = 'vol-s3-1';
    for (const [id, mountPath] of [['s3-a', '/home/daytona/volume'], ['s3-b', '/mnt/shared']] as const) {
      const r = await api(t, 'POST', '/sandboxes', sandboxBody(id, image, { volumes: [{ volumeId: vol, mountPath }] }));
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const w = await sh(t, 's3-a', 'cd /home/daytona/volume && echo one > f.txt && echo two >> f.txt && mkdir -p d/e && mv f.txt d/e/g.txt && chmod 640 d/e/g.txt && id -un');
    assert.equal(w.exitCode, 0, w.result);
    const r = await sh(t, 's3-b', 'cat /mnt/shared/d/e/g.txt && stat -c "%U %a" /mnt/shared/d/e/g.txt');
    assert.equal(r.exitCode, 0, r.result);
    assert.deepEqual(r.result.trim().split('\n'), ['one', 'two', 'daytona 640']);
    // The file is an object under the volume's prefix.
    assert.ok((await objects.running.store.stat(BUCKET, `volumes/${vol}/d/e/g.txt`))?.size === 8);

    // Nothing of the credential is visible inside (environment, mount table, the runner's files).
    const leak = await sh(t, 's3-b', `cat /proc/self/mountinfo /proc/1/environ 2>/dev/null | grep -c ${SERVICE.secret} ; true`);
    assert.equal(leak.result.trim(), '0');

    for (const id of ['s3-a', 's3-b']) assert.equal((await api(t, 'DELETE', `/sandboxes/${id}`)).status, 200);
    assert.deepEqual(await mountsUnder(t.cfg.dataDir), []);
    const s3fs = await exec('pgrep', ['-f', `s3fs .*${t.cfg.dataDir}`], { allowFailure: true });
    assert.equal(s3fs.stdout.trim(), '', 's3fs processes left');
  });
});
