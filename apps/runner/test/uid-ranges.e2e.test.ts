import assert from 'node:assert/strict';
import { lchown, lstat, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SandboxMeta } from '../src/sandbox/sandbox.store.js';
import { exec } from '../src/util/exec.js';
import { api, crunExec, destroyRunner, requireRoot, sandboxBody, startRegistry, startRunner, type TestRunner } from './helpers.js';

// Per-sandbox host uid ranges on a real runner: the pool's limits, what stays mounted, and sandboxes from before
// per-sandbox ranges (meta without one).
describe('runner uid ranges (e2e)', { timeout: 10 * 60_000 }, () => {
  before(requireRoot);
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let t: TestRunner;
  let image: string;
  let env: Record<string, string>;

  const metaPath = (id: string) => join(t.cfg.dataDir, 'sandboxes', id, 'meta.json');
  const meta = async (id: string) => JSON.parse(await readFile(metaPath(id), 'utf8')) as SandboxMeta;
  /** Host uid of the sandbox's PID 1. */
  const initUid = async (id: string) => {
    const st = await t.runner.backend.state(id);
    assert.ok(st?.status === 'running', `${id} runs`);
    return Number(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${st.pid}/status`, 'utf8'))![1]);
  };
  const mountsBelow = async (dir: string) =>
    (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));

  before(async () => {
    registry = await startRegistry();
    image = `${registry.host}/shoal/sandbox:0.1.0`;
    env = {
      SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-e2e-'),
      SHOAL_RUNNER_BRIDGE: 'shluid',
      SHOAL_RUNNER_SUBNET: '10.236.0.0/16',
      SHOAL_DEFAULT_IMAGE: image,
      SHOAL_RUNNER_UID_POOL_RANGES: '2',
    };
    t = await startRunner(env);
    const pulled = await api(t, 'POST', '/snapshots/pull', { snapshot: image });
    assert.equal(pulled.status, 200, JSON.stringify(pulled.body));
  });

  after(async () => {
    if (t) await destroyRunner(t);
    if (registry) await registry.stop();
  });

  it('leaves only the overlay mounted (the idmapped lower is overlayfs-private) and unmounts it on stop', async () => {
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('uid-1', image))).status, 201);
    const base = (await meta('uid-1')).uidBase!;
    assert.equal(base, t.cfg.uidPool.base, 'the first range of the pool');
    assert.equal(await initUid('uid-1'), base);
    const dir = join(t.cfg.dataDir, 'sandboxes', 'uid-1');
    const mounts = await mountsBelow(dir);
    assert.equal(mounts.length, 1, mounts.join('\n'));
    assert.match(mounts[0]!, / - overlay overlay .*lowerdir=[^,]*\/lower,/);
    // Inside, the shared image is root's (the idmapped view), and root's writes land in the sandbox's range.
    const r = await crunExec(t, 'uid-1', 'stat -c %u:%g /usr/bin/su /etc/passwd && echo x > /root/w && touch /etc/new');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['0:0', '0:0']);
    const upper = join(t.cfg.dataDir, 'pool', 'uid-1', 'upper');
    assert.equal((await stat(join(upper, 'root', 'w'))).uid, base);
    assert.equal((await stat(join(upper, 'etc', 'passwd')).catch(() => undefined)), undefined, 'the image is not copied up');
    // Only host root walks the writable layer.
    assert.equal((await stat(join(t.cfg.dataDir, 'pool', 'uid-1'))).mode & 0o777, 0o700);
    assert.equal((await api(t, 'POST', '/sandboxes/uid-1/stop')).status, 200);
    assert.deepEqual(await mountsBelow(dir), []);
  });

  it('answers 503 when the pool is used up, and a removed sandbox frees its range', async () => {
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('uid-2', image))).status, 201);
    const full = await api(t, 'POST', '/sandboxes', sandboxBody('uid-3', image));
    assert.equal(full.status, 503, JSON.stringify(full.body));
    assert.match(JSON.stringify(full.body), /uid range/);
    const freed = (await meta('uid-2')).uidBase!;
    assert.equal((await api(t, 'DELETE', '/sandboxes/uid-2')).status, 200);
    assert.equal((await api(t, 'GET', '/sandboxes/uid-3')).status, 404, 'a refused create leaves nothing behind');
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('uid-4', image))).status, 201);
    assert.equal((await meta('uid-4')).uidBase, freed);
    assert.equal((await api(t, 'DELETE', '/sandboxes/uid-4')).status, 200);
  });

  it('starts a sandbox whose meta has no range (created before ranges) on the legacy shared range', async () => {
    // uid-1 is stopped: make it look like a sandbox from before per-sandbox ranges and restart the runner.
    // Its files move to the legacy range, as they would be had the old runner written them.
    const m = await meta('uid-1');
    await t.runner.pool.mount('uid-1');
    await shiftOwners(join(t.cfg.dataDir, 'pool', 'uid-1', 'upper'), m.uidBase!, t.cfg.uidBase);
    await t.runner.pool.unmount('uid-1');
    delete m.uidBase;
    await writeFile(metaPath('uid-1'), JSON.stringify(m));
    await t.stop();
    t = await startRunner(env);
    assert.equal((await api(t, 'POST', '/sandboxes/uid-1/start')).status, 200);
    assert.equal(await initUid('uid-1'), t.cfg.uidBase);
    const r = await crunExec(t, 'uid-1', 'cat /root/w && stat -c %u /usr/bin/su && echo y > /root/legacy');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['x', '0']);
    assert.equal((await stat(join(t.cfg.dataDir, 'pool', 'uid-1', 'upper', 'root', 'legacy'))).uid, t.cfg.uidBase);
    // Its old range is free again after the restart: a new sandbox may have it.
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('uid-5', image))).status, 201);
    assert.equal((await meta('uid-5')).uidBase, t.cfg.uidPool.base);
  });

  it('clears a staging mount a killed helper left behind, on start and on delete', async () => {
    const dir = join(t.cfg.dataDir, 'sandboxes', 'uid-5');
    const stage = join(dir, 'lower');
    // Bind a scratch dir with a canary: were the stage not unmounted, removing the sandbox dir would delete it.
    const scratch = await mkdtemp('/var/tmp/shoal-uid-stage-');
    await writeFile(join(scratch, 'canary'), 'x');
    assert.equal((await api(t, 'POST', '/sandboxes/uid-5/stop')).status, 200);
    await exec('mount', ['--bind', scratch, stage]);
    assert.equal((await api(t, 'POST', '/sandboxes/uid-5/start')).status, 200);
    const mounts = await mountsBelow(dir);
    assert.equal(mounts.length, 1, mounts.join('\n'));
    assert.equal((await crunExec(t, 'uid-5', 'stat -c %u /usr/bin/su')).stdout.trim(), '0');
    await exec('mount', ['--bind', scratch, stage]);
    assert.equal((await api(t, 'DELETE', '/sandboxes/uid-5')).status, 200);
    assert.deepEqual(await mountsBelow(dir), []);
    assert.equal(await readFile(join(scratch, 'canary'), 'utf8'), 'x');
    await rm(scratch, { recursive: true });
  });

  it('a failed create gives its range back at once, though its error stays until it is deleted', async () => {
    // Three failed creates on a pool of two ranges: were their ranges held until a delete that may never come, the
    // third would be refused for want of a range (503), and so would the two good creates after them.
    const missing = `${registry.host}/nothing/here:1`;
    for (const id of ['uid-f1', 'uid-f2', 'uid-f3']) {
      const r = await api(t, 'POST', '/sandboxes', sandboxBody(id, missing));
      assert.equal(r.status, 400, `${id}: ${JSON.stringify(r.body)}`);
      const info = (await api(t, 'GET', `/sandboxes/${id}`)).body as { state: string; errorReason?: string };
      assert.equal(info.state, 'error');
      assert.match(info.errorReason ?? '', /nothing\/here/);
      assert.equal((await stat(join(t.cfg.dataDir, 'sandboxes', id)).catch(() => undefined)), undefined, `${id} keeps no files`);
    }
    for (const id of ['uid-6', 'uid-7']) {
      const r = await api(t, 'POST', '/sandboxes', sandboxBody(id, image));
      assert.equal(r.status, 201, `${id}: ${JSON.stringify(r.body)}`);
    }
    assert.deepEqual(new Set([(await meta('uid-6')).uidBase, (await meta('uid-7')).uidBase]).size, 2);
    // The errored ones are forgotten by their delete, as the API's delete of an errored sandbox does.
    for (const id of ['uid-f1', 'uid-f2', 'uid-f3', 'uid-6', 'uid-7']) {
      assert.equal((await api(t, 'DELETE', `/sandboxes/${id}`)).status, 200, id);
      assert.equal((await api(t, 'GET', `/sandboxes/${id}`)).status, 404, id);
    }
    // A create may reuse the id of a failed one.
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('uid-f1', missing))).status, 400);
    assert.equal((await api(t, 'POST', '/sandboxes', sandboxBody('uid-f1', image))).status, 201);
    assert.equal((await api(t, 'DELETE', '/sandboxes/uid-f1')).status, 200);
  });
});

async function shiftOwners(path: string, from: number, to: number): Promise<void> {
  const st = await lstat(path);
  const map = (id: number) => (id >= from && id < from + 65536 ? id - from + to : id);
  await lchown(path, map(st.uid), map(st.gid));
  if (st.isDirectory()) for (const e of await readdir(path)) await shiftOwners(join(path, e), from, to);
}
