import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BUCKET, orgCredentials, s3Code, sdkLikeClient, SERVICE, startTestServer, type TestServer } from './helpers.js';

/*
 * CopyObject, which s3fs (the runner's s3 volume driver) uses to rename files and to rewrite an object's metadata
 * (chmod, chown, utimes) by copying it onto itself with x-amz-metadata-directive REPLACE.
 */

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv?.stop();
});

async function body(out: { Body?: unknown }): Promise<Buffer> {
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

test('copies data and metadata (COPY), replaces metadata in place (REPLACE), and refuses a no-op self copy', async () => {
  const s3 = sdkLikeClient(srv.running.url, SERVICE);
  const data = randomBytes(300_000);
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/a.bin', Body: data, ContentType: 'application/x-test', Metadata: { mode: '33188' } }));
  const copied = await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/dir/b.bin', CopySource: `${BUCKET}/volumes/v1/a.bin` }));
  assert.match(copied.CopyObjectResult?.ETag ?? '', /^"[0-9a-f]{32}"$/);
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/dir/b.bin' }));
  assert.ok((await body(got)).equals(data));
  assert.equal(got.ContentType, 'application/x-test');
  assert.deepEqual(got.Metadata, { mode: '33188' });

  // s3fs's chmod: the object onto itself with new metadata; the data stays.
  await s3.send(
    new CopyObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/a.bin', CopySource: `/${BUCKET}/volumes/v1/a.bin`, MetadataDirective: 'REPLACE', Metadata: { mode: '33261' } }),
  );
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/a.bin' }));
  assert.deepEqual(head.Metadata, { mode: '33261' });
  assert.equal(head.ContentLength, data.length);
  assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/a.bin' })))).equals(data));

  assert.equal(await s3Code(s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/a.bin', CopySource: `${BUCKET}/volumes/v1/a.bin` }))), 'InvalidRequest');
  assert.equal(await s3Code(s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'x', CopySource: `${BUCKET}/volumes/none` }))), 'NoSuchKey');
  // An empty object copies too.
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/empty/', Body: '' }));
  await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/empty2/', CopySource: `${BUCKET}/volumes/v1/empty/` }));
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'volumes/v1/empty2/' }))).ContentLength, 0);
});

test("a copy needs read access to the source: another organization's object is AccessDenied and nothing is written", async () => {
  const svc = sdkLikeClient(srv.running.url, SERVICE);
  const orgA = 'org-a-0000-0000-0000-000000000001';
  const orgB = 'org-b-0000-0000-0000-000000000002';
  await svc.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${orgB}/secret.txt`, Body: 'b only' }));
  const a = sdkLikeClient(srv.running.url, orgCredentials(orgA));
  assert.equal(await s3Code(a.send(new CopyObjectCommand({ Bucket: BUCKET, Key: `${orgA}/stolen.txt`, CopySource: `${BUCKET}/${orgB}/secret.txt` }))), 'AccessDenied');
  assert.equal(await s3Code(svc.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${orgA}/stolen.txt` }))), 'NotFound');
  // Traversal in the source is refused as it is in any key.
  assert.equal(await s3Code(a.send(new CopyObjectCommand({ Bucket: BUCKET, Key: `${orgA}/x`, CopySource: `${BUCKET}/${orgA}/../${orgB}/secret.txt` }))), 'InvalidArgument');
});
