// Issue 9 "Containment", scope 4: every sandbox runs in its own host uid range from the runner's pool. Checked from
// the host: the sandboxes' root processes, who may open a file root wrote in one of them, what happens to a range
// when its sandbox is deleted, and that a platform restart keeps every sandbox on the range it had.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

const RANGE = 65536;
/** The shared range every sandbox used before per-sandbox ranges (SHOAL_RUNNER_UID_BASE; images are unpacked into it). */
const LEGACY_BASE = 100000;
const rand = randomBytes(4).toString('hex');

let platform: TestPlatform;
let a: Sandbox;
let b: Sandbox;
const extra: Sandbox[] = [];

const runnerDir = () => join(platform.dataDir, 'runner');

async function rangeOf(id: string): Promise<number> {
  const meta = JSON.parse(await readFile(join(runnerDir(), 'sandboxes', id, 'meta.json'), 'utf8')) as { uidBase?: number };
  assert.equal(typeof meta.uidBase, 'number', `sandbox ${id} has its own range in its meta`);
  return meta.uidBase!;
}

/** PID 1 of the sandbox (tini) as the runtime reports it, and the host uid/gid it runs as. */
function initOf(id: string): { pid: number; uid: number; gid: number } {
  const state = JSON.parse(execFileSync('crun', ['--root', join(runnerDir(), 'oci'), 'state', id], { encoding: 'utf8' })) as { pid: number };
  const status = execFileSync('cat', [`/proc/${state.pid}/status`], { encoding: 'utf8' });
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
  const gid = Number(/^Gid:\s+(\d+)/m.exec(status)![1]);
  return { pid: state.pid, uid, gid };
}

/** `cat path` on the host as the given host uid/gid with no supplementary groups. */
function catAs(uid: number, path: string): { ok: boolean; out: string } {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'cat', path], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

const outside = (uid: number, base: number) => uid < base || uid >= base + RANGE;

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.process.executeCommand(cmd);
  assert.equal(r.exitCode, 0, `${cmd}: ${r.result}`);
  return r.result;
}

before(async () => {
  platform = await startTestPlatform();
  const created = await Promise.all([
    platform.sdk().create({ labels: { suite: 'containment-uid', role: 'a' } }, { timeout: 120 }),
    platform.sdk().create({ labels: { suite: 'containment-uid', role: 'b' } }, { timeout: 120 }),
  ]);
  [a, b] = created as [Sandbox, Sandbox];
});

after(async () => {
  await Promise.all([a, b, ...extra].filter(Boolean).map((sb) => deleteAndWait(platform, sb)));
  await platform?.close();
});

test("the root processes of two sandboxes run as different host uids, outside the legacy range and each other's", async () => {
  const [ra, rb] = [await rangeOf(a.id), await rangeOf(b.id)];
  const [pa, pb] = [initOf(a.id), initOf(b.id)];
  assert.equal(pa.uid, ra, "A's PID 1 runs as the first id of A's range");
  assert.equal(pb.uid, rb, "B's PID 1 runs as the first id of B's range");
  assert.equal(pa.gid, ra);
  assert.equal(pb.gid, rb);
  assert.notEqual(pa.uid, pb.uid, 'root in A and root in B are different host uids');
  for (const [name, uid] of [['A', pa.uid], ['B', pb.uid]] as const) {
    assert.ok(outside(uid, LEGACY_BASE), `${name}'s root ${uid} is outside the legacy shared range`);
  }
  assert.ok(outside(pa.uid, rb) && outside(pb.uid, ra), `ranges ${ra} and ${rb} do not overlap`);
  assert.ok(Math.abs(ra - rb) >= RANGE, `ranges ${ra} and ${rb} are 65,536 ids apart at least`);
  // Inside, both are root; the user namespace says where that lands.
  assert.equal((await sh(a, 'cat /proc/self/uid_map')).trim().split(/\s+/).join(' '), `0 ${ra} ${RANGE}`);
});

test("a file root wrote in A cannot be opened by B's root uid on the host; host root and A's own root can", async () => {
  const ra = await rangeOf(a.id);
  const rb = await rangeOf(b.id);
  const name = `a-secret-${rand}`;
  // World-readable on purpose: only the ranges (and the runner's directory modes) stand between B and the file.
  await sh(a, `sudo -n sh -c 'echo secret-${rand} > /tmp/${name} && chmod 0644 /tmp/${name}'`);
  const upperPath = join(runnerDir(), 'pool', a.id, 'upper', 'tmp', name);
  const rootfsPath = join(runnerDir(), 'sandboxes', a.id, 'bundle', 'rootfs', 'tmp', name);
  for (const p of [upperPath, rootfsPath]) {
    assert.ok(existsSync(p), `positive control: ${p} exists for host root`);
    assert.equal((await readFile(p, 'utf8')).trim(), `secret-${rand}`, `host root reads ${p}`);
  }
  const st = execFileSync('stat', ['-c', '%u:%g', upperPath], { encoding: 'utf8' }).trim();
  assert.equal(st, `${ra}:${ra}`, "the file belongs to A's root on the host");

  // The view the runtime uses (the sandbox's mounted rootfs) is reachable by A's root uid: the check below is about B.
  const own = catAs(ra, rootfsPath);
  assert.ok(own.ok, `positive control: A's root uid ${ra} reads its own rootfs view: ${own.out}`);
  for (const p of [upperPath, rootfsPath]) {
    const r = catAs(rb, p);
    assert.ok(!r.ok, `ESCAPE — B's root uid ${rb} read A's file ${p}: ${r.out}`);
    assert.match(r.out, /Permission denied/, `B's root uid ${rb} is refused ${p}`);
  }
});

test('inside, root still owns the image: chown, useradd, su, sudo and writes to /root and /etc work', async () => {
  const out = await sh(
    a,
    `sudo -n sh -c 'echo x > /root/f-${rand} && echo "# ${rand}" >> /etc/hosts.allow && useradd -m u${rand} && ` +
      `chown u${rand}:u${rand} /root/f-${rand} && su u${rand} -c "id -un" && stat -c %U /usr/bin/su /etc/passwd'`,
  );
  assert.deepEqual(out.trim().split('\n'), [`u${rand}`, 'root', 'root']);
});

test('a deleted sandbox gives its range back: the next sandbox gets it', async () => {
  const ra = await rangeOf(a.id);
  const rb = await rangeOf(b.id);
  await deleteAndWait(platform, a);
  await eventually(() => !existsSync(join(runnerDir(), 'sandboxes', a.id)), `sandbox ${a.id} removed on the runner`);
  const c = await platform.sdk().create({ labels: { suite: 'containment-uid', role: 'c' } }, { timeout: 120 });
  extra.push(c);
  const rc = await rangeOf(c.id);
  // The pool hands out its lowest free range; with only A's and B's taken, A's is the lowest free one once released.
  assert.equal(rc, ra, `C reuses A's released range ${ra} (got ${rc})`);
  assert.notEqual(rc, rb, "C never gets B's range while B exists");
  assert.equal(initOf(c.id).uid, rc);
  a = c;
});

test('a platform restart keeps every sandbox on its range, and new sandboxes do not get a taken one', async () => {
  const before = new Map([
    [a.id, await rangeOf(a.id)],
    [b.id, await rangeOf(b.id)],
  ]);
  await sh(a, `sudo -n sh -c 'echo kept > /root/kept-${rand}'`);
  platform = await platform.restart();
  const sdk = platform.sdk();
  for (const id of before.keys()) {
    const sb = await sdk.get(id);
    if (sb.state !== 'started') await sb.start(120);
  }
  a = await sdk.get(a.id);
  b = await sdk.get(b.id);
  for (const [id, base] of before) {
    assert.equal(await rangeOf(id), base, `sandbox ${id} keeps range ${base}`);
    assert.equal(initOf(id).uid, base, `sandbox ${id} runs as ${base} after the restart`);
  }
  assert.equal((await sh(a, `sudo -n cat /root/kept-${rand}`)).trim(), 'kept', 'files of the range are still its own');
  const d = await sdk.create({ labels: { suite: 'containment-uid', role: 'd' } }, { timeout: 120 });
  extra.push(d);
  const rd = await rangeOf(d.id);
  assert.ok(![...before.values()].includes(rd), `a new sandbox gets a free range (${rd}), not one of ${[...before.values()]}`);
});
