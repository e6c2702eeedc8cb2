import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BUCKET, orgCredentials, s3Code, s3Status, sdkLikeClient, SERVICE, startTestServer, type TestServer } from './helpers.js';

/*
 * The embedded S3 server against the real AWS SDK v3 (@aws-sdk/client-s3 + lib-storage, configured as the Daytona SDK
 * configures them): the build-context upload path of sdk-wire-contract.md §5, multipart, ranges, and every refusal.
 */

let srv: TestServer;
let url: string;
const orgA = 'org-a-0000-0000-0000-000000000001';
const orgB = 'org-b-0000-0000-0000-000000000002';

before(async () => {
  srv = await startTestServer();
  url = srv.running.url;
});
after(async () => {
  await srv?.stop();
});

async function body(out: { Body?: unknown }): Promise<Buffer> {
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

test('the SDK upload path: list (absent), Upload of a small tar stream, list (present), get, range get, head', async () => {
  const creds = orgCredentials(orgA);
  const s3 = sdkLikeClient(url, creds);
  const prefix = `${orgA}/${'ab'.repeat(16)}/`;
  const before = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, MaxKeys: 1 }));
  assert.equal(before.Contents, undefined);
  assert.equal(before.KeyCount, 0);

  const data = randomBytes(2048);
  const pass = new PassThrough();
  pass.end(data);
  await new Upload({ client: s3, params: { Bucket: BUCKET, Key: `${prefix}context.tar`, Body: pass } }).done();

  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, MaxKeys: 1 }));
  assert.equal(listed.Contents?.length, 1);
  assert.equal(listed.Contents?.[0]?.Key, `${prefix}context.tar`);
  assert.equal(listed.Contents?.[0]?.Size, 2048);

  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}context.tar` }));
  assert.deepEqual(await body(got), data);
  assert.equal(got.ETag, `"${createHash('md5').update(data).digest('hex')}"`);
  const range = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}context.tar`, Range: 'bytes=100-199' }));
  assert.equal(range.ContentRange, 'bytes 100-199/2048');
  assert.deepEqual(await body(range), data.subarray(100, 200));
  const tail = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}context.tar`, Range: 'bytes=-10' }));
  assert.deepEqual(await body(tail), data.subarray(2038));
  assert.equal(await s3Code(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}context.tar`, Range: 'bytes=5000-' }))), 'InvalidRange');
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}context.tar` }));
  assert.equal(head.ContentLength, 2048);
  assert.equal(await s3Code(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}missing.tar` }))), 'NoSuchKey');
});

test('multipart through lib-storage (> 5 MiB: CreateMultipartUpload, UploadPart x2, Complete) and an aws-chunked streaming PutObject', async () => {
  const s3 = sdkLikeClient(url, orgCredentials(orgA));
  const data = randomBytes(7 * 1024 * 1024 + 123);
  const pass = new PassThrough();
  pass.end(data);
  const key = `${orgA}/${'cd'.repeat(16)}/context.tar`;
  const out = await new Upload({ client: s3, params: { Bucket: BUCKET, Key: key, Body: pass } }).done();
  assert.match(String(out.ETag), /^"[0-9a-f]{32}-2"$/);
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  assert.equal(got.ContentLength, data.length);
  assert.equal(createHash('sha256').update(await body(got)).digest('hex'), createHash('sha256').update(data).digest('hex'));
  const mid = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: `bytes=${5 * 1024 * 1024 - 5}-${5 * 1024 * 1024 + 4}` }));
  assert.deepEqual(await body(mid), data.subarray(5 * 1024 * 1024 - 5, 5 * 1024 * 1024 + 5));

  // A stream body of known length: the SDK sends Content-Encoding: aws-chunked with a CRC32 trailer.
  const streamed = randomBytes(300_000);
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${orgA}/streamed`, Body: Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]), ContentLength: streamed.length }));
  assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/streamed` }))), streamed);

  // Parts below 5 MiB (other than the last) are refused, and an aborted upload leaves nothing.
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${orgA}/small-parts` }));
  const p1 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: `${orgA}/small-parts`, UploadId, PartNumber: 1, Body: Buffer.alloc(10) }));
  assert.ok(p1.ETag);
  await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: `${orgA}/small-parts`, UploadId }));
  assert.deepEqual(await readdir(join(srv.root, 'objects', 'multipart')), []);
  assert.deepEqual(await readdir(join(srv.root, 'objects', 'tmp')), []);
});

test('a wrong secret gets SignatureDoesNotMatch; an unknown key InvalidAccessKeyId; nothing is written', async () => {
  const creds = orgCredentials(orgA);
  const bad = sdkLikeClient(url, { ...creds, secret: `${creds.secret.slice(0, -2)}xx` });
  assert.equal(await s3Code(bad.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${orgA}/forged`, Body: 'x' }))), 'SignatureDoesNotMatch');
  assert.equal(await s3Code(bad.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${orgA}/` }))), 'SignatureDoesNotMatch');
  const svcBad = sdkLikeClient(url, { accessKey: SERVICE.accessKey, secret: 'not-the-service-secret-000000' });
  assert.equal(await s3Code(svcBad.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/streamed` }))), 'SignatureDoesNotMatch');
  const unknown = sdkLikeClient(url, { accessKey: 'AKIAUNKNOWN000000000', secret: 'whatever-secret-000000000' });
  assert.equal(await s3Code(unknown.send(new ListObjectsV2Command({ Bucket: BUCKET }))), 'InvalidAccessKeyId');
  const svc = sdkLikeClient(url, SERVICE);
  assert.equal(await s3Code(svc.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${orgA}/forged` }))), 'NotFound');
});

test("another organization's credentials get AccessDenied on this prefix (list, get, head, put, multipart); its own prefix works", async () => {
  const a = sdkLikeClient(url, orgCredentials(orgA));
  await a.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar`, Body: 'org a data' }));
  const b = sdkLikeClient(url, orgCredentials(orgB));
  const codes = [
    await s3Code(b.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${orgA}/` }))),
    await s3Code(b.send(new ListObjectsV2Command({ Bucket: BUCKET }))),
    await s3Code(b.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: orgB.slice(0, 5) }))),
    await s3Code(b.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` }))),
    await s3Code(b.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar`, Body: 'overwrite' }))),
    await s3Code(b.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${orgA}/mp` }))),
    await s3Code(b.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` }))),
  ];
  assert.deepEqual(codes, ['AccessDenied', 'AccessDenied', 'AccessDenied', 'AccessDenied', 'AccessDenied', 'AccessDenied', 'AccessDenied']);
  assert.equal(await s3Status(b.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` }))), 403);
  // An upload id of org A cannot be written through B's prefix either: ids are bound to their key.
  const { UploadId } = await a.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${orgA}/mp` }));
  assert.equal(await s3Code(b.send(new UploadPartCommand({ Bucket: BUCKET, Key: `${orgB}/mp`, UploadId, PartNumber: 1, Body: 'x' }))), 'NoSuchUpload');
  await a.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: `${orgA}/mp`, UploadId }));
  // Organization B's own prefix works, and its data is untouched by A.
  await b.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${orgB}/x`, Body: 'org b' }));
  assert.equal((await body(await a.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` })))).toString(), 'org a data');
  // Temporary credentials cannot delete even in their own prefix (contexts are shared by every build).
  assert.equal(await s3Code(a.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` }))), 'AccessDenied');
});

test('expired and forged session tokens get AccessDenied', async () => {
  const expired = orgCredentials(orgA, { ttlSeconds: 60, now: Date.now() - 120_000 });
  assert.equal(await s3Code(sdkLikeClient(url, expired).send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${orgA}/` }))), 'AccessDenied');
  // B's token rewritten to claim org A, keeping B's MAC: refused.
  const b = orgCredentials(orgB);
  const [payload, mac] = b.sessionToken.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const forgedToken = `${Buffer.from(JSON.stringify({ ...claims, org: orgA, prefix: `${orgA}/` })).toString('base64url')}.${mac}`;
  const forged = sdkLikeClient(url, { accessKey: b.accessKey, secret: b.secret, sessionToken: forgedToken });
  assert.equal(await s3Code(forged.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` }))), 'AccessDenied');
  // A's token presented with B's access key: refused (the token names its access key).
  const a = orgCredentials(orgA);
  const swapped = sdkLikeClient(url, { accessKey: b.accessKey, secret: b.secret, sessionToken: a.sessionToken });
  assert.equal(await s3Code(swapped.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/secret/context.tar` }))), 'AccessDenied');
  // No token at all with a temporary access key.
  const noToken = sdkLikeClient(url, { accessKey: a.accessKey, secret: a.secret });
  assert.equal(await s3Code(noToken.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${orgA}/` }))), 'AccessDenied');
});

test('traversal and hostile keys are refused and nothing lands outside the bucket', async () => {
  const svc = sdkLikeClient(url, SERVICE);
  const a = sdkLikeClient(url, orgCredentials(orgA));
  const hostile = [`${orgA}/../escape`, `${orgA}/./x`, `${orgA}/a\u0000b`, `${orgA}/..`, `${orgA}/x/../../../../etc/passwd`];
  for (const key of hostile) {
    assert.equal(await s3Code(a.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }))), 'InvalidArgument', key);
    assert.equal(await s3Code(svc.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }))), 'InvalidArgument', key);
  }
  assert.equal(await s3Code(svc.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'x'.repeat(1025), Body: 'x' }))), 'KeyTooLongError');
  assert.equal(existsSync(join(srv.root, 'objects', 'buckets', 'escape')), false);
  assert.equal(existsSync(join(srv.root, 'escape')), false);
  // Odd but legal keys are stored under encoded names and read back exactly.
  const odd = `${orgA}/sp ace/+plus/%25/ü/.hidden/trailing/`;
  await a.send(new PutObjectCommand({ Bucket: BUCKET, Key: odd, Body: 'odd' }));
  assert.equal((await body(await a.send(new GetObjectCommand({ Bucket: BUCKET, Key: odd })))).toString(), 'odd');
  const listed = await a.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${orgA}/sp ace/` }));
  assert.deepEqual(listed.Contents?.map((c) => c.Key), [odd]);
});

test('a body that does not match its signed x-amz-content-sha256 is refused and not stored', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await shaCtor();
  const creds = orgCredentials(orgA);
  const signer = new SignatureV4({ credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secret, sessionToken: creds.sessionToken }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
  const u = new URL(url);
  const path = `/${BUCKET}/${orgA}/tampered`;
  const signed = await signer.sign({
    method: 'PUT',
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path,
    query: {},
    headers: { host: u.host, 'content-length': '5', 'x-amz-content-sha256': createHash('sha256').update('hello').digest('hex') },
  });
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method: 'PUT', path, headers: signed.headers }, (resp) => {
      let text = '';
      resp.on('data', (c) => (text += c));
      resp.on('end', () => resolve({ status: resp.statusCode ?? 0, text }));
    });
    r.on('error', reject);
    r.end('HELLO');
  });
  assert.equal(res.status, 400);
  assert.match(res.text, /<Code>XAmzContentSHA256Mismatch<\/Code>/);
  assert.equal(await s3Code(sdkLikeClient(url, SERVICE).send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${orgA}/tampered` }))), 'NotFound');
});

test('an upload cut off mid-body leaves no object and no temp file', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await shaCtor();
  const signer = new SignatureV4({ credentials: { accessKeyId: SERVICE.accessKey, secretAccessKey: SERVICE.secret }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
  const u = new URL(url);
  const path = `/${BUCKET}/${orgA}/cut-off`;
  const signed = await signer.sign({
    method: 'PUT',
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path,
    query: {},
    headers: { host: u.host, 'content-length': String(1024 * 1024), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  await new Promise<void>((resolve) => {
    const r = request({ host: u.hostname, port: u.port, method: 'PUT', path, headers: signed.headers });
    r.on('error', () => resolve());
    r.write(Buffer.alloc(64 * 1024, 7), () => setTimeout(() => {
      r.destroy();
      resolve();
    }, 300));
  });
  for (let i = 0; i < 50 && (await readdir(join(srv.root, 'objects', 'tmp'))).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await readdir(join(srv.root, 'objects', 'tmp')), []);
  assert.equal(await s3Code(sdkLikeClient(url, SERVICE).send(new GetObjectCommand({ Bucket: BUCKET, Key: `${orgA}/cut-off` }))), 'NoSuchKey');
});

async function shaCtor() {
  const { createHash: ch, createHmac } = await import('node:crypto');
  class Sha256 {
    private h: ReturnType<typeof ch> | ReturnType<typeof createHmac>;
    constructor(secret?: unknown) {
      this.h = secret === undefined ? ch("sha256") : createHmac("sha256", typeof secret === "string" ? secret : Buffer.from(secret as Uint8Array));
    }
    update(d: unknown) {
      this.h.update(typeof d === "string" ? d : Buffer.from(d as Uint8Array));
    }
    digest() {
      return Promise.resolve(new Uint8Array(this.h.digest()));
    }
    reset() {}
  }
  return { Sha256 };
}
