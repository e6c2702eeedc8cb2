// Snapshots from an image reference, end to end with the official SDK (issue 11, scope 1 and the API half of 2): a
// tiny busybox image made here and pushed to a registry on loopback is pulled by the runner into the internal
// registry, becomes active, runs sandboxes (with the image's command as entrypoint), and behaves under list, get,
// deactivate/activate, delete and another organization's key; a reference the registry does not have ends in error.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, startRegistry, type RunningRegistry } from '@shoal/platform';
import { pushBusyboxImage } from './src/busybox-image.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;
let registry: RunningRegistry;
let dir: string;
let image: string;
let otherKey: string;

async function api(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-e2e-snapshots-'));
  registry = await startRegistry({ dataDir: join(dir, 'registry'), port: await freePort() });
  image = `${registry.address}/e2e/busybox:1.0`;
  // Its CMD leaves a mark when it runs: the snapshot's entrypoint must run at sandbox start.
  await pushBusyboxImage(dir, image, ['/bin/sh', '-c', 'echo from-image-cmd > /tmp/cmd-ran; exec sleep 3600']);
  platform = await startTestPlatform();
  const other = await api('POST', '/users', platform.apiKey, { name: `snapshots-other-${Date.now()}`, createApiKey: true });
  assert.equal(other.status, 201, JSON.stringify(other.json));
  otherKey = (other.json as { apiKey: string }).apiKey;
  // sdk(undefined) would fall back to the admin key and make every cross-organization check pass vacuously.
  assert.ok(typeof otherKey === 'string' && otherKey.length > 10 && otherKey !== platform.apiKey, 'a key of another organization');
});

after(async () => {
  await platform?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('snapshots through the SDK', () => {
  const name = 'e2e/busybox:1.0';
  let snapshotId = '';

  test('snapshot.create from an image reference streams the pull log and becomes active', async () => {
    const daytona = platform.sdk();
    const logs: string[] = [];
    const snap = await daytona.snapshot.create({ name, image }, { onLogs: (l) => logs.push(l) });
    snapshotId = snap.id;
    assert.equal(snap.state, 'active');
    assert.equal(snap.name, name);
    const got = await daytona.snapshot.get(name);
    assert.equal(got.id, snap.id);
    assert.equal(got.state, 'active');
    assert.ok(typeof got.size === 'number' && got.size > 0 && got.size < 0.1, `size in GB: ${got.size}`);
    assert.deepEqual(got.entrypoint, ['/bin/sh', '-c', 'echo from-image-cmd > /tmp/cmd-ran; exec sleep 3600']);
    const runnerLines = logs.filter((l) => !/^(Creating|Created) snapshot/.test(l) && !/^Snapshot .* (state|is)/i.test(l));
    assert.ok(runnerLines.some((l) => l.includes('e2e/busybox')), `the runner's pull log reached onLogs: ${JSON.stringify(logs)}`);
  });

  test('a sandbox from the snapshot runs commands in the image and its entrypoint ran', async () => {
    const daytona = platform.sdk();
    const sandbox = await daytona.create({ snapshot: name });
    try {
      assert.equal(sandbox.snapshot, name);
      const r = await sandbox.process.executeCommand('busybox echo hello-from-busybox');
      assert.equal(r.exitCode, 0);
      assert.equal(r.result.trim(), 'hello-from-busybox');
      let mark = '';
      for (let i = 0; i < 50 && mark !== 'from-image-cmd'; i++) {
        mark = (await sandbox.process.executeCommand('cat /tmp/cmd-ran')).result.trim();
        if (mark !== 'from-image-cmd') await new Promise((r2) => setTimeout(r2, 200));
      }
      assert.equal(mark, 'from-image-cmd', 'the snapshot entrypoint (the image CMD) ran at sandbox start');
    } finally {
      await sandbox.delete();
    }
  });

  test('list and get; another organization gets 404 and cannot use, deactivate or delete it', async () => {
    const daytona = platform.sdk();
    const page = await daytona.snapshot.list(1, 100);
    assert.ok(page.items.some((s) => s.id === snapshotId));
    for (const ref of [name, snapshotId]) {
      const raw = await api('GET', `/snapshots/${encodeURIComponent(ref)}`, otherKey);
      assert.equal(raw.status, 404, `another organization reading ${ref}: ${JSON.stringify(raw.json)}`);
    }
    const other = platform.sdk(otherKey);
    await assert.rejects(other.snapshot.get(name), /not found/i);
    await assert.rejects(other.snapshot.get(snapshotId), /not found/i);
    assert.ok(!(await other.snapshot.list(1, 100)).items.some((s) => s.id === snapshotId));
    await assert.rejects(other.create({ snapshot: name }, { timeout: 30 }), /not found/i);
    assert.equal((await api('POST', `/snapshots/${snapshotId}/deactivate`, otherKey)).status, 404);
    assert.equal((await api('DELETE', `/snapshots/${snapshotId}`, otherKey)).status, 404);
    assert.equal((await daytona.snapshot.get(name)).state, 'active');
  });

  test('deactivate refuses new sandboxes, activate restores; delete removes it', async () => {
    const daytona = platform.sdk();
    const d = await api('POST', `/snapshots/${snapshotId}/deactivate`, platform.apiKey);
    assert.equal(d.status, 204);
    const inactive = await daytona.snapshot.get(name);
    assert.equal(inactive.state, 'inactive');
    await assert.rejects(daytona.create({ snapshot: name }, { timeout: 30 }), /inactive/);
    // Deactivation takes the image off the runner (its sandbox is gone); activation brings it back on demand.
    const registryHost = (await daytona.snapshot.get('shoal/sandbox:0.1.0')).imageName?.split('/')[0];
    const internalRef = `${registryHost}/shoal-${(inactive as unknown as { organizationId: string }).organizationId}/${snapshotId}:1.0`;
    const onRunner = async () => {
      const r = platform.runners[0]!;
      const res = await fetch(`${r.url}/snapshots/exists?snapshot=${encodeURIComponent(internalRef)}`, { headers: { authorization: `Bearer ${r.token}` } });
      return ((await res.json()) as { exists: boolean }).exists;
    };
    const until = Date.now() + 30_000;
    while ((await onRunner()) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await onRunner(), false, 'the inactive snapshot image left the runner');
    const activated = await daytona.snapshot.activate(await daytona.snapshot.get(name));
    assert.equal(activated.state, 'active');
    const again = await daytona.create({ snapshot: name });
    try {
      assert.equal((await again.process.executeCommand('busybox echo back-again')).result.trim(), 'back-again');
    } finally {
      await again.delete();
    }
    await daytona.snapshot.delete(activated);
    const deadline = Date.now() + 30_000;
    let gone = false;
    while (!gone && Date.now() < deadline) {
      gone = (await api('GET', `/snapshots/${snapshotId}`, platform.apiKey)).status === 404;
      if (!gone) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(gone, 'the snapshot disappears after removing');
  });

  test('the validation trial run: an image without sh, or whose command dies at once, ends in error with the reason', async () => {
    const daytona = platform.sdk();
    const noShell = `${registry.address}/e2e/no-shell:1.0`;
    const dies = `${registry.address}/e2e/dies:1.0`;
    await mkdir(join(dir, 'no-shell'));
    await mkdir(join(dir, 'dies'));
    await pushBusyboxImage(join(dir, 'no-shell'), noShell, ['/bin/sleep', '3600'], ['sleep', 'echo']);
    await pushBusyboxImage(join(dir, 'dies'), dies, ['/bin/cat', '/no/such/file']);
    const t0 = Date.now();
    const results = await Promise.allSettled([
      daytona.snapshot.create({ name: 'e2e-no-shell', image: noShell }),
      daytona.snapshot.create({ name: 'e2e-dies', image: dies }),
    ]);
    console.log(`two snapshots pulled and refused by their trial runs in ${Date.now() - t0} ms`);
    for (const r of results) assert.equal(r.status, 'rejected');
    const a = await daytona.snapshot.get('e2e-no-shell');
    assert.equal(a.state, 'error');
    assert.match(a.errorReason ?? '', /^Validation failed: sh cannot run in the image/);
    const b = await daytona.snapshot.get('e2e-dies');
    assert.equal(b.state, 'error');
    assert.match(b.errorReason ?? '', /^Validation failed: its entrypoint \["\/bin\/cat","\/no\/such\/file"\] exited at once \(code 1\)/);
    // The trial sandboxes are gone from the runner.
    const r = platform.runners[0]!;
    const left = (await readdir(join(platform.dataDir, 'runner', 'sandboxes'))).filter((n) => n.startsWith('trial-'));
    assert.deepEqual(left, [], `trial sandboxes left on ${r.url}`);
  });

  test('a reference the registry does not have ends in error with a reason', async () => {
    const daytona = platform.sdk();
    const missing = `${registry.address}/e2e/missing:1.0`;
    await assert.rejects(daytona.snapshot.create({ name: 'e2e-missing', image: missing }), /Failed to create snapshot/);
    const got = await daytona.snapshot.get('e2e-missing');
    assert.equal(got.state, 'error');
    assert.ok(got.errorReason && got.errorReason.includes('e2e/missing'), `reason names the image: ${got.errorReason}`);
  });
});
