import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Daytona, Image } from '@daytonaio/sdk';
import { SnapshotService } from '@daytonaio/sdk/src/Snapshot.js';
import { objectStorageSessionKey } from '@shoal/contracts';
import { ObjectServer, type RunningObjectServer } from '@shoal/objects';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { buildTestApp, createTenant } from './helpers/app.js';

/*
 * GET /api/object-storage/push-access against the embedded S3 server, and the SDK's own build-context upload
 * (SnapshotService.processImageContext: push-access, ListObjectsV2, lib-storage Upload) with those credentials.
 */

const SERVICE = { accessKeyId: 'SHOALSVCAPITEST00001', secretAccessKey: 'api-test-service-secret-0123456789' };
const BUCKET = 'shoal-builds';
let db: TestDatabase;
let s3: RunningObjectServer;
let dir: string;
let app: ShoalApp;
let apiUrl: string;

function client(creds: { accessKey: string; secret: string; sessionToken?: string }): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secret, ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}) },
  });
}
const service = () => client({ accessKey: SERVICE.accessKeyId, secret: SERVICE.secretAccessKey });

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as Error).name;
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-api-objects-'));
  s3 = await new ObjectServer({
    root: join(dir, 'objects'),
    host: '127.0.0.1',
    port: 0,
    region: 'us-east-1',
    buckets: [BUCKET],
    auth: { serviceAccessKey: SERVICE.accessKeyId, serviceSecretKey: SERVICE.secretAccessKey, sessionKey: objectStorageSessionKey(TEST_PLATFORM_SECRET), maxSkewMs: 900_000 },
    maxObjectBytes: 64 * 1024 * 1024,
    log: () => undefined,
  }).listen();
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false, env: { SHOAL_S3_URL: s3.url, SHOAL_S3_BUCKET: BUCKET } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
});

after(async () => {
  await app?.close();
  await db?.drop();
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('push-access returns the StorageAccessDto fields, scoped to the caller organization; unauthenticated is 401', async () => {
  const a = await createTenant(app, 'os-user-a');
  const res = await app.inject({ method: 'GET', url: '/api/object-storage/push-access', headers: a.auth });
  assert.equal(res.statusCode, 200);
  const dto = res.json() as Record<string, string>;
  assert.deepEqual(Object.keys(dto).sort(), ['accessKey', 'bucket', 'organizationId', 'secret', 'sessionToken', 'storageUrl']);
  assert.equal(dto.organizationId, a.organizationId);
  assert.equal(dto.bucket, BUCKET);
  assert.equal(dto.storageUrl, s3.url);
  assert.match(dto.accessKey!, /^SHOALT[A-Z2-7]{14}$/);
  const again = (await app.inject({ method: 'GET', url: '/api/object-storage/push-access', headers: a.auth })).json() as Record<string, string>;
  assert.notEqual(again.accessKey, dto.accessKey);
  assert.equal((await app.inject({ method: 'GET', url: '/api/object-storage/push-access' })).statusCode, 401);

  const mine = client({ accessKey: dto.accessKey!, secret: dto.secret!, sessionToken: dto.sessionToken! });
  await mine.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${a.organizationId}/h/context.tar`, Body: 'a' }));
  assert.equal(await code(mine.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'someone-else/h/context.tar', Body: 'a' }))), 'AccessDenied');
});

test("the SDK's build-context upload with push-access credentials; another organization's credentials are denied", async () => {
  const a = await createTenant(app, 'os-sdk-a');
  const b = await createTenant(app, 'os-sdk-b');
  const file = join(dir, 'hello.txt');
  await writeFile(file, 'hello from the context\n');
  const image = Image.base('debian:12').addLocalFile(file, '/work/hello.txt');
  const daytonaA = new Daytona({ apiKey: a.key, apiUrl, target: 'us' });
  const objectStorageApi = (daytonaA as unknown as { objectStorageApi: unknown }).objectStorageApi;
  const [hash] = await SnapshotService.processImageContext(objectStorageApi as never, image);
  assert.match(String(hash), /^[0-9a-f]{32}$/);
  const key = `${a.organizationId}/${hash}/context.tar`;
  const stored = await service().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const tar = Buffer.from(await stored.Body!.transformToByteArray());
  assert.ok(tar.includes(Buffer.from('hello from the context')), 'the tar holds the file');
  const firstModified = stored.LastModified?.getTime();

  // The same context again: the SDK's existence check (ListObjectsV2) finds it and skips the upload.
  await new Promise((r) => setTimeout(r, 1100));
  const [hash2] = await SnapshotService.processImageContext(objectStorageApi as never, image);
  assert.equal(hash2, hash);
  const head = await service().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  assert.equal(head.LastModified?.getTime(), firstModified);

  // Organization B's push-access credentials: no list, read or overwrite of A's context.
  const dtoB = (await app.inject({ method: 'GET', url: '/api/object-storage/push-access', headers: b.auth })).json() as { accessKey: string; secret: string; sessionToken: string };
  const asB = client(dtoB);
  assert.equal(await code(asB.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${a.organizationId}/` }))), 'AccessDenied');
  assert.equal(await code(asB.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))), 'AccessDenied');
  assert.equal(await code(asB.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'evil' }))), 'AccessDenied');
  const after = await service().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  assert.deepEqual(Buffer.from(await after.Body!.transformToByteArray()), tar);
});

test('push-access refuses with 503 when object storage is not configured or is an external S3 without opt-in; shared hands out the configured key', async () => {
  const a = await createTenant(app, 'os-modes');
  const cases: Array<[Record<string, string>, number, RegExp | undefined]> = [
    [{}, 503, /Object storage is not configured/],
    [{ SHOAL_S3_URL: 'http://127.0.0.1:9', SHOAL_S3_PUSH_ACCESS: 'none' }, 503, /needs Shoal's embedded object storage/],
    [{ SHOAL_S3_URL: 'http://127.0.0.1:9', SHOAL_S3_PUSH_ACCESS: 'shared', SHOAL_S3_ACCESS_KEY: 'EXTERNALKEY', SHOAL_S3_SECRET_KEY: 'external-secret' }, 200, undefined],
  ];
  for (const [env, status, message] of cases) {
    const other = await buildTestApp(db.url, { background: false, env });
    try {
      const res = await other.inject({ method: 'GET', url: '/api/object-storage/push-access', headers: a.auth });
      assert.equal(res.statusCode, status, res.body);
      if (message) assert.match((res.json() as { message: string }).message, message);
      else assert.deepEqual(res.json(), { accessKey: 'EXTERNALKEY', secret: 'external-secret', sessionToken: '', storageUrl: 'http://127.0.0.1:9', organizationId: a.organizationId, bucket: 'shoal-builds' });
    } finally {
      await other.close();
    }
  }
});
