// Issue 11's Acceptance list, run as written with the official SDK against one platform: a private registry with
// authentication (htpasswd, on loopback) holds a Debian image the test copies there; a docker-registry entry makes
// `snapshot.create` from it work and its absence fails with the registry's authentication error; a declarative image
// FROM that private image with apt-get, WORKDIR, ENV and addLocalFile (uploaded by the SDK to Shoal's object storage,
// fetched by the runner) builds while its log streams; `create({ image })` builds once, then reuses the snapshot
// about as fast as a plain create; matplotlib from Debian packages gives the chart example its PNG; another
// organization can neither see, use nor delete the snapshot, the registry entry or the object-storage prefix.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Image, type Daytona } from '@daytonaio/sdk';
import { pushBusyboxImage } from './src/busybox-image.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { copyIntoPrivate, startPrivateRegistry, type PrivateRegistry } from './src/private-registry.js';

const TAG = '[images-acceptance]';
let platform: TestPlatform;
let registry: PrivateRegistry;
let dir: string;
let privateImage: string;
let privateBusybox: string;
let helloFile: string;
let otherKey: string;
let registryId = '';

// Answers are read field by field below; a string map is enough for every one of them.
async function api<T = Record<string, string | undefined>>(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
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
  return { status: res.status, json: json as T };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

before(async () => {
  dir = await mkdtemp(join(process.env.SHOAL_TEST_SCRATCH ?? tmpdir(), 'e2e-images-acceptance-'));
  platform = await startTestPlatform();
  registry = await startPrivateRegistry(join(dir, 'registry'), 'e2e-owner', `pw-${Date.now().toString(36)}`);
  // A Debian bookworm image made here (the platform's default image, with apt, python3 and node), held only by the
  // private registry under its login.
  privateImage = `${registry.host}/acme/debian:bookworm-1`;
  const t0 = Date.now();
  await copyIntoPrivate(registry, platform.defaultImage, privateImage, dir);
  console.log(`${TAG} copy of the default image into the private registry: ${Date.now() - t0} ms`);
  // A few-MB busybox image for the build whose reuse is measured; pushed to the run's open registry, then copied in.
  const busybox = `${platform.registryAddress}/e2e-images-acceptance/busybox:${Date.now().toString(36)}`;
  await mkdir(join(dir, 'busybox'));
  await pushBusyboxImage(join(dir, 'busybox'), busybox, ['sleep', '3600']);
  privateBusybox = `${registry.host}/acme/busybox:1`;
  await copyIntoPrivate(registry, busybox, privateBusybox, dir);
  helloFile = join(dir, 'hello.txt');
  await writeFile(helloFile, 'hello from a local file\n');
  const other = await api(platform.apiKey, 'POST', '/users', { id: 'images-acceptance-other', name: 'other', createApiKey: true });
  assert.equal(other.status, 201, JSON.stringify(other.json));
  otherKey = other.json.apiKey!;
  // sdk(undefined) would fall back to the admin key and make every cross-organization check pass vacuously.
  assert.ok(typeof otherKey === 'string' && otherKey.length > 10 && otherKey !== platform.apiKey, 'a key of another organization');
});

after(async () => {
  await platform?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function snapshotState(key: string, name: string): Promise<{ state: string; errorReason?: string | null }> {
  const r = await api<{ state: string; errorReason?: string | null }>(key, 'GET', `/snapshots/${encodeURIComponent(name)}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

test('a private registry with authentication: without a docker-registry entry the snapshot fails naming authentication', async () => {
  const daytona = platform.sdk();
  await assert.rejects(daytona.snapshot.create({ name: 'acme/no-entry:1', image: privateImage }), /Failed to create snapshot/);
  const failed = await snapshotState(platform.apiKey, 'acme/no-entry:1');
  assert.equal(failed.state, 'error');
  assert.match(String(failed.errorReason), /authenticat/i, `the reason names authentication: ${failed.errorReason}`);
});

test('with an entry for it, snapshot.create from the private image becomes active and create({ snapshot }) runs commands', async () => {
  const daytona = platform.sdk();
  // The SDK has no registry API: a plain POST with the API key, the reference's CreateDockerRegistry body.
  const entry = await api(platform.apiKey, 'POST', '/docker-registry', {
    name: 'acme private',
    url: `http://${registry.host}`,
    username: registry.username,
    password: registry.password,
    project: 'acme',
    registryType: 'organization',
  });
  assert.equal(entry.status, 201, JSON.stringify(entry.json));
  assert.equal(entry.json.password, undefined, 'no response carries the password');
  registryId = entry.json.id!;

  const t0 = Date.now();
  const snap = await daytona.snapshot.create({ name: 'acme/debian:1', image: privateImage });
  console.log(`${TAG} snapshot from the private registry (pull, copy into the internal registry, unpack): ${Date.now() - t0} ms`);
  assert.equal(snap.state, 'active');
  const t1 = Date.now();
  const sandbox = await daytona.create({ snapshot: 'acme/debian:1' });
  console.log(`${TAG} first sandbox from that snapshot: ${Date.now() - t1} ms`);
  try {
    const r = await sandbox.process.executeCommand('cat /etc/debian_version');
    assert.equal(r.exitCode, 0);
    assert.match(r.result.trim(), /^12\./);
  } finally {
    await sandbox.delete();
  }
});

test("another organization gets no use of the entry's login and cannot see, use or delete the snapshot, the entry or the object-storage prefix", async () => {
  assert.ok(registryId, 'the entry of the first test exists');
  const other = platform.sdk(otherKey);
  // The entry's credentials are not theirs: the same image, already on the runner, still needs their own login.
  await assert.rejects(other.snapshot.create({ name: 'theirs/debian:1', image: privateImage }), /Failed to create snapshot/);
  const theirs = await snapshotState(otherKey, 'theirs/debian:1');
  assert.equal(theirs.state, 'error');
  assert.match(String(theirs.errorReason), /authenticat/i, `their reason names authentication: ${theirs.errorReason}`);

  assert.equal((await api(otherKey, 'GET', `/snapshots/${encodeURIComponent('acme/debian:1')}`)).status, 404);
  await assert.rejects(other.create({ snapshot: 'acme/debian:1' }, { timeout: 60 }), /not found/i);
  const mine = await platform.sdk().snapshot.get('acme/debian:1');
  assert.equal((await api(otherKey, 'DELETE', `/snapshots/${mine.id}`)).status, 404);
  assert.equal((await api(otherKey, 'POST', `/snapshots/${mine.id}/deactivate`)).status, 404);
  assert.ok(!(await other.snapshot.list(1, 100)).items.some((s) => s.id === mine.id));

  assert.equal((await api(otherKey, 'GET', `/docker-registry/${registryId}`)).status, 404);
  assert.equal((await api(otherKey, 'PATCH', `/docker-registry/${registryId}`, { name: 'x', url: `http://${registry.host}`, username: 'x' })).status, 404);
  assert.equal((await api(otherKey, 'DELETE', `/docker-registry/${registryId}`)).status, 404);
  const theirList = await api<{ id: string }[]>(otherKey, 'GET', '/docker-registry');
  assert.equal(theirList.status, 200);
  assert.ok(!theirList.json.some((r) => r.id === registryId), 'the entry is not in their list');
  assert.equal((await api(platform.apiKey, 'GET', `/docker-registry/${registryId}`)).status, 200, 'the entry is still there');

  // Build contexts the SDK uploads (addLocalFile below) sit under this organization's prefix: not listable by them.
  const me = await api(platform.apiKey, 'GET', '/object-storage/push-access');
  const creds = (await api(otherKey, 'GET', '/object-storage/push-access')).json;
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: platform.objectStorageUrl,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: creds.accessKey!, secretAccessKey: creds.secret!, sessionToken: creds.sessionToken! },
  });
  const denied = await s3.send(new ListObjectsV2Command({ Bucket: creds.bucket ?? 'shoal-builds', Prefix: `${me.json.organizationId}/` })).then(
    () => 'ok',
    (e: Error) => e.name,
  );
  assert.equal(denied, 'AccessDenied');
});

const appImage = () =>
  Image.base(privateImage)
    // One apt-get update for the file: jq for the acceptance line, matplotlib (numpy, PIL) for the chart example.
    .runCommands('apt-get update && apt-get install -y --no-install-recommends jq python3-matplotlib')
    .workdir('/work')
    .env({ A: '1' })
    .addLocalFile(helloFile, '/work/hello.txt');

const CHART_CODE = `
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 10, 30)
plt.figure(figsize=(6, 4))
plt.plot(x, np.sin(x), 'b-', linewidth=2)
plt.title('Line Chart')
plt.xlabel('X')
plt.ylabel('Y')
plt.grid(True)
plt.show()
print('chart done')
`;

test('a declarative image FROM the private image (apt-get, WORKDIR, ENV, addLocalFile) builds while its log streams; jq, the file, A=1 and the chart example work', async () => {
  const daytona = platform.sdk();
  const logs: string[] = [];
  let stateAtFirstStep: Promise<string> | undefined;
  const t0 = Date.now();
  const snap = await daytona.snapshot.create(
    { name: 'acme/app:1', image: appImage() },
    {
      onLogs: (l) => {
        logs.push(l);
        // Read the snapshot's state the moment the first build step is logged: the log must arrive while building.
        if (!stateAtFirstStep && /STEP \d+\/\d+: /.test(l)) stateAtFirstStep = snapshotState(platform.apiKey, 'acme/app:1').then((s) => s.state);
      },
      timeout: 0,
    },
  );
  console.log(`${TAG} cold build of the declarative image (apt-get jq + matplotlib, addLocalFile): ${Date.now() - t0} ms`);
  assert.equal(snap.state, 'active', `${snap.state}: ${snap.errorReason ?? ''}`);
  const text = logs.join('\n');
  assert.ok(stateAtFirstStep, `a build step reached onLogs: ${text.slice(-2000)}`);
  assert.equal(await stateAtFirstStep, 'building', 'the first step was logged while the snapshot was building');
  assert.match(text, /STEP \d+\/\d+: RUN apt-get update/, 'the RUN step is in the log');

  const sandbox = await daytona.create({ snapshot: 'acme/app:1' });
  try {
    const jq = await sandbox.process.executeCommand(`sh -c "echo '{\\"a\\":[1,2]}' | jq -c .a"`);
    assert.equal(jq.exitCode, 0, jq.result);
    assert.equal(jq.result.trim(), '[1,2]');
    const cat = await sandbox.process.executeCommand('cat hello.txt');
    assert.equal(cat.exitCode, 0, cat.result);
    assert.equal(cat.result, 'hello from a local file\n', 'the local file, from the workdir');
    assert.equal((await sandbox.process.executeCommand('pwd')).result.trim(), '/work');
    assert.match((await sandbox.process.executeCommand('env')).result, /^A=1$/m);

    const run = await sandbox.process.codeRun(CHART_CODE);
    assert.equal(run.exitCode, 0, run.result);
    assert.match(run.result, /chart done/);
    const charts = run.artifacts?.charts ?? [];
    assert.equal(charts.length, 1, `one chart: ${run.result.slice(-1000)}`);
    const png = Buffer.from(String(charts[0]!.png), 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
    assert.ok(png.length > 1000, `a real picture: ${png.length} bytes`);
    assert.equal(charts[0]!.title, 'Line Chart');
  } finally {
    await sandbox.delete();
  }
});

test('create({ image }) builds and streams logs once; the second create reuses the snapshot within 1 s of a plain create', async () => {
  const daytona = platform.sdk();
  // Not the image above (identical build info would reuse that snapshot, and this first create must build), and on
  // the small busybox base in the same private registry, so this file pays for one Debian build only.
  const image = () =>
    Image.base(privateBusybox).workdir('/work').env({ A: '1' }).addLocalFile(helloFile, '/work/hello.txt').runCommands('cat hello.txt > copied.txt');
  const logs: string[] = [];
  const t0 = Date.now();
  const first = await daytona.create({ image: image() }, { onSnapshotCreateLogs: (l) => logs.push(l), timeout: 0 });
  console.log(`${TAG} create({ image }) with a cold build (busybox base, RUN, addLocalFile): ${Date.now() - t0} ms`);
  try {
    assert.equal(first.state, 'started');
    assert.match(logs.join('\n'), /STEP \d+\/\d+: RUN cat hello.txt > copied.txt/, `the build log reached onSnapshotCreateLogs: ${logs.join('\n').slice(-2000)}`);
    assert.equal((await first.process.executeCommand('cat /work/copied.txt')).result, 'hello from a local file\n');
  } finally {
    await first.delete();
  }

  const reuse: number[] = [];
  const plain: number[] = [];
  const timed = async (into: number[], create: () => Promise<Awaited<ReturnType<Daytona['create']>>>, check: (s: Awaited<ReturnType<Daytona['create']>>) => Promise<void>) => {
    const t = Date.now();
    const s = await create();
    into.push(Date.now() - t);
    try {
      assert.equal(s.state, 'started');
      await check(s);
    } finally {
      await s.delete();
    }
  };
  for (let i = 0; i < 5; i++) {
    await timed(
      reuse,
      () => daytona.create({ image: image() }, { onSnapshotCreateLogs: (l) => assert.fail(`a reuse streamed a build log: ${l}`) }),
      async (s) => assert.equal(s.snapshot, first.snapshot, 'the same snapshot, no rebuild'),
    );
    await timed(
      plain,
      () => daytona.create({ snapshot: first.snapshot }),
      async () => undefined,
    );
  }
  console.log(`${TAG} create({ image }) reusing its snapshot: median ${median(reuse)} ms [${reuse.join(', ')}]`);
  console.log(`${TAG} plain create({ snapshot }): median ${median(plain)} ms [${plain.join(', ')}]`);
  assert.ok(median(reuse) <= median(plain) + 1000, `reuse median ${median(reuse)} ms vs plain ${median(plain)} ms`);
});

