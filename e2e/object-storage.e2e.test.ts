// Object storage as `shoal up` runs it (issue 11, scope 5): the embedded S3 server is a process of its own, and the
// official SDK's build-context upload (push-access, ListObjectsV2, lib-storage Upload, multipart above 5 MiB) works
// against it unchanged; another organization's push-access credentials are refused on this prefix. No runner is
// needed for this path, so none is started.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Image } from '@daytonaio/sdk';
import { SnapshotService } from '@daytonaio/sdk/src/Snapshot.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;
let dir: string;

before(async () => {
  platform = await startTestPlatform({ runners: 0, prepareDefaultSnapshot: false });
  dir = await mkdtemp(join(tmpdir(), 'e2e-objects-'));
});

after(async () => {
  await platform?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function s3(creds: { accessKey: string; secret: string; sessionToken?: string }): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: platform.objectStorageUrl,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secret, ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}) },
  });
}

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as Error).name;
  }
}

test("the SDK uploads build contexts to Shoal's object storage; another organization cannot read them; stop ends the process", async () => {
  const objects = platform.objects;
  assert.ok(objects?.process.running, 'the embedded object storage runs');
  assert.ok(existsSync(join(platform.dataDir, 'pids', 'objects.pid')));

  const ctx = join(dir, 'ctx');
  await mkdir(join(ctx, 'sub'), { recursive: true });
  await writeFile(join(ctx, 'hello.txt'), 'hello from a build context\n');
  // Over 5 MiB: lib-storage switches to multipart.
  await writeFile(join(ctx, 'sub', 'big.bin'), randomBytes(6 * 1024 * 1024));
  const file = join(dir, 'single.txt');
  await writeFile(file, 'single file\n');
  const image = Image.base(platform.defaultImage).addLocalFile(file, '/work/single.txt').addLocalDir(ctx, '/work/ctx');

  const daytona = platform.sdk();
  const objectStorageApi = (daytona as unknown as { objectStorageApi: unknown }).objectStorageApi;
  const hashes = await SnapshotService.processImageContext(objectStorageApi as never, image);
  assert.equal(hashes.length, 2);

  const me = (await (await fetch(`${platform.apiUrl}/object-storage/push-access`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()) as {
    organizationId: string;
  };
  const service = s3({ accessKey: objects.endpoint.accessKey, secret: objects.endpoint.secretKey });
  for (const h of hashes) {
    const listed = await service.send(new ListObjectsV2Command({ Bucket: 'shoal-builds', Prefix: `${me.organizationId}/${h}/` }));
    assert.deepEqual(listed.Contents?.map((c) => c.Key), [`${me.organizationId}/${h}/context.tar`]);
  }
  const big = await service.send(new GetObjectCommand({ Bucket: 'shoal-builds', Key: `${me.organizationId}/${hashes[1]}/context.tar` }));
  assert.ok((big.ContentLength ?? 0) > 6 * 1024 * 1024);
  assert.match(String(big.ETag), /-2"$/, 'uploaded in two parts');
  await big.Body?.transformToByteArray();

  // A second organization, with its own user and key.
  const created = await fetch(`${platform.apiUrl}/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'e2e-objects-other', name: 'other', createApiKey: true }),
  });
  assert.equal(created.status, 201);
  const other = (await created.json()) as { apiKey: string; organizationId: string };
  const res = await fetch(`${platform.apiUrl}/object-storage/push-access`, { headers: { authorization: `Bearer ${other.apiKey}` } });
  const creds = (await res.json()) as { accessKey: string; secret: string; sessionToken: string; organizationId: string; storageUrl: string };
  assert.equal(creds.organizationId, other.organizationId);
  assert.equal(creds.storageUrl, platform.objectStorageUrl);
  const intruder = s3(creds);
  assert.equal(await errorName(intruder.send(new ListObjectsV2Command({ Bucket: 'shoal-builds', Prefix: `${me.organizationId}/` }))), 'AccessDenied');
  assert.equal(await errorName(intruder.send(new GetObjectCommand({ Bucket: 'shoal-builds', Key: `${me.organizationId}/${hashes[0]}/context.tar` }))), 'AccessDenied');

  const pid = objects.process.pid!;
  await platform.stop();
  let gone = false;
  try {
    process.kill(pid, 0);
  } catch {
    gone = true;
  }
  assert.ok(gone, 'the object storage process ended with the platform');
  assert.equal(existsSync(join(platform.dataDir, 'pids', 'objects.pid')), false);
});
