// Issue 13 items 3-4 with the official SDK and two runners: archive moves a sandbox's files into object storage and
// off runner A; with A unschedulable, start brings the sandbox up on B with its files, modes, owners, links and
// deletions of image files intact. Then a backup, the runner's copy destroyed behind the API's back, and start:
// the sandbox is recovered from the backup. Figures (archive/restore time, object size) are printed. Last, the
// several-hosts volume driver (s3: the volume lives in object storage, each runner mounts it with s3fs): sandboxes on
// the two runners share one volume's files.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { eventually } from './src/toolbox-helpers.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ runners: 2, ssh: false, volumes: { driver: 's3' } });
});

after(async () => {
  await platform?.close();
});

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${platform.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${platform.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A call to a runner's own API (as the API makes it), to see or destroy what it holds. */
async function runnerCall(domain: string, method: string, path: string): Promise<number> {
  const r = platform.runners.find((x) => x.domain === domain)!;
  const res = await fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${r.token}` } });
  await res.text();
  return res.status;
}

interface SandboxDto {
  state: string;
  runnerDomain?: string;
  backupState: string;
  errorReason?: string;
}

async function until(what: string, id: string, ok: (s: SandboxDto) => boolean, ms = 180_000): Promise<SandboxDto> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await api<SandboxDto>('GET', `/sandbox/${id}`);
    if (ok(s)) return s;
    assert.ok(s.state !== 'error', `${what}: sandbox in error: ${s.errorReason}`);
    assert.ok(Date.now() < end, `${what}: still ${s.state} / backup ${s.backupState}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function sh(sb: Sandbox, cmd: string): Promise<string> {
  const r = await sb.process.executeCommand(cmd, undefined, undefined, 120);
  assert.equal(r.exitCode, 0, `${cmd}: ${r.result}`);
  return r.result.trim();
}

/** What must survive: content hash of 100 MiB, modes, owners, a symlink, a hard link, deleted image files, an opaque dir. */
const FINGERPRINT = [
  'sha256sum /home/daytona/big.bin | cut -c1-64',
  'stat -c "%a %u:%g" /home/daytona/run.sh /home/daytona/owned',
  'readlink /home/daytona/link',
  'test "$(stat -c %i /home/daytona/hard)" = "$(stat -c %i /home/daytona/notes.txt)" && echo hardlinked',
  'test ! -e /home/daytona/.bash_logout && echo logout-deleted',
  'ls -A /etc/skel | tr "\\n" " "',
  'cat /home/daytona/notes.txt',
].join(' && ');

test('archive on runner A, start on B with the files; backup, lose the copy, recover', async () => {
  const daytona = platform.sdk();
  const runners = await api<Array<{ id: string; domain: string }>>('GET', '/runners');
  const sb = await daytona.create({ labels: { suite: 'archive-backup' } }, { timeout: 240 });
  const a = sb.runnerDomain!;
  const runnerA = runners.find((r) => r.domain === a)!;
  await sh(
    sb,
    [
      'head -c 104857600 /dev/urandom > /home/daytona/big.bin',
      'printf "#!/bin/sh\\necho hi\\n" > /home/daytona/run.sh && chmod 0750 /home/daytona/run.sh',
      'echo "first words" > /home/daytona/notes.txt',
      'ln -s notes.txt /home/daytona/link && ln /home/daytona/notes.txt /home/daytona/hard',
      'rm /home/daytona/.bash_logout',
      'touch /home/daytona/owned && sudo -n chown 1234:4321 /home/daytona/owned',
      'sudo -n rm -rf /etc/skel && sudo -n mkdir /etc/skel && sudo -n touch /etc/skel/only-this',
    ].join(' && '),
  );
  const before = await sh(sb, FINGERPRINT);
  assert.match(before, /hardlinked/);

  await sb.stop(120);
  const t0 = Date.now();
  await sb.archive();
  await until('archived', sb.id, (s) => s.state === 'archived');
  const archiveMs = Date.now() - t0;
  assert.equal(await runnerCall(a, 'GET', `/sandboxes/${sb.id}`), 404, "runner A still has the sandbox after archive");

  const s3 = platform.objects!.endpoint;
  const client = new S3Client({ endpoint: s3.url, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } });
  const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `sandboxes/${sb.id}/archive.tar.zst` }));
  client.destroy();

  await api('PATCH', `/runners/${runnerA.id}/scheduling`, { unschedulable: true });
  let restoreMs: number;
  try {
    const t1 = Date.now();
    await sb.start(240);
    restoreMs = Date.now() - t1;
  } finally {
    await api('PATCH', `/runners/${runnerA.id}/scheduling`, { unschedulable: false });
  }
  await sb.refreshData();
  const b = sb.runnerDomain!;
  assert.notEqual(b, a, 'the restored sandbox runs on the other runner');
  assert.equal(await sh(sb, FINGERPRINT), before, 'files, modes, owners and links after restore');
  console.log(`[archive-backup] 100 MiB sandbox: archive ${archiveMs} ms (object ${head.ContentLength} bytes), restore+start on another runner ${restoreMs} ms`);

  // Backup of the running sandbox, then its copy on the runner is destroyed while it is stopped.
  await sh(sb, 'echo "after the restore" >> /home/daytona/notes.txt');
  const fp2 = await sh(sb, FINGERPRINT);
  const t2 = Date.now();
  await api('POST', `/sandbox/${sb.id}/backup`);
  const backedUp = await until('backup', sb.id, (s) => s.backupState === 'Completed' || s.backupState === 'Error');
  assert.equal(backedUp.backupState, 'Completed');
  const backupMs = Date.now() - t2;
  await sb.stop(120);
  // The copy is lost behind everyone's back (a wiped disk): a DELETE on the runner would tell the API it is destroyed.
  const index = platform.runners.findIndex((r) => r.domain === b);
  const dir = join(platform.dataDir, index === 0 ? 'runner' : `runner-${index}`);
  await platform.runners[index]!.process.stop('SIGTERM');
  await rm(join(dir, 'sandboxes', sb.id), { recursive: true, force: true });
  await rm(join(dir, 'pool', sb.id), { recursive: true, force: true });
  await rm(join(dir, 'pool', `${sb.id}.img`), { force: true });
  await platform.startRunner(index);
  assert.equal(await runnerCall(b, 'GET', `/sandboxes/${sb.id}`), 404);
  const t3 = Date.now();
  await sb.start(240);
  const recoverMs = Date.now() - t3;
  assert.equal(await sh(sb, FINGERPRINT), fp2, 'recovered from the backup with its files');
  console.log(`[archive-backup] backup of the running sandbox ${backupMs} ms, recovery from it ${recoverMs} ms`);
  await sb.delete();
});

test('a volume on object storage (s3 driver) is shared by sandboxes on the two runners', async () => {
  const daytona = platform.sdk();
  const runners = await api<Array<{ id: string; domain: string }>>('GET', '/runners');
  assert.equal(runners.length, 2);
  const volume = await daytona.volume.get(`across-runners-${Date.now()}`, true);
  assert.equal(volume.state, 'ready');
  // One sandbox on each runner: the other one is unschedulable while it is created.
  const placed: Sandbox[] = [];
  for (const r of runners) {
    const other = runners.find((x) => x.id !== r.id)!;
    // The restores of the test before can keep a runner too busy to answer its health check for a while (seen in a
    // CI run: "No available runners"); this test is about the volume, so it waits for the runner to be ready.
    await eventually(
      async () => (await api<Array<{ id: string; state: string }>>('GET', '/runners')).find((x) => x.id === r.id)?.state === 'ready',
      `runner ${r.domain} to be ready`,
      120_000,
    );
    await api('PATCH', `/runners/${other.id}/scheduling`, { unschedulable: true });
    try {
      placed.push(await daytona.create({ labels: { suite: 'archive-backup-volume' }, volumes: [{ volumeId: volume.id, mountPath: '/data' }] }, { timeout: 240 }));
    } finally {
      await api('PATCH', `/runners/${other.id}/scheduling`, { unschedulable: false });
    }
  }
  const [x, y] = placed as [Sandbox, Sandbox];
  assert.notEqual(x.runnerDomain, y.runnerDomain, 'the two sandboxes run on different runners');
  // A new name is looked up in object storage when asked for, so each side sees what the other wrote.
  await sh(x, 'echo from-x > /data/x.txt && mkdir -p /data/dir && echo nested > /data/dir/n.txt');
  assert.equal(await sh(y, 'cat /data/x.txt /data/dir/n.txt'), 'from-x\nnested');
  await sh(y, 'echo from-y > /data/y.txt && mv /data/x.txt /data/x-renamed.txt');
  assert.equal(await sh(x, 'cat /data/y.txt /data/x-renamed.txt'), 'from-y\nfrom-x');
  assert.equal(await sh(y, 'id -un && touch /data/by-user && stat -c %U /data/by-user'), 'daytona\ndaytona');
  console.log(`[archive-backup] volume ${volume.id} shared by sandboxes on ${x.runnerDomain} and ${y.runnerDomain}`);

  await Promise.all(placed.map((sb) => sb.delete()));
  // Deleting the volume is refused while a sandbox that names it is not yet destroyed; then it goes.
  const end = Date.now() + 120_000;
  for (;;) {
    const res = await fetch(`${platform.apiUrl}/volumes/${volume.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${platform.apiKey}` } });
    await res.text();
    if (res.status < 300) break;
    assert.equal(res.status, 409, 'only "in use" may delay the deletion');
    assert.ok(Date.now() < end, 'the volume stayed in use after its sandboxes were deleted');
    await new Promise((r) => setTimeout(r, 500));
  }
});
