import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUCKET, SERVICE, startTestServer, type TestServer } from './helpers.js';

/*
 * A second, independent S3 client: Debian's s3cmd (Python, its own SigV4 implementation) with the service credential,
 * path-style. Proves the server speaks S3 and not just "what the AWS JS SDK happens to send".
 */

let srv: TestServer;

before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv?.stop();
});

async function config(secret: string): Promise<string> {
  const host = new URL(srv.running.url).host;
  const file = join(srv.root, `s3cfg-${randomBytes(4).toString('hex')}`);
  await writeFile(
    file,
    [
      '[default]',
      `access_key = ${SERVICE.accessKey}`,
      `secret_key = ${secret}`,
      `host_base = ${host}`,
      // No %(bucket)s: path-style addressing.
      `host_bucket = ${host}`,
      'use_https = False',
      'signature_v2 = False',
      'bucket_location = us-east-1',
      'multipart_chunk_size_mb = 5',
      'progress_meter = False',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

/** Runs s3cmd without blocking: the server under test answers from this same process. */
function s3cmd(cfg: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('s3cmd', ['-c', cfg, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

test('s3cmd with the service credential: put (single and multipart), ls, get, mb, del', async () => {
  const cfg = await config(SERVICE.secret);
  const small = join(srv.root, 'small.txt');
  const big = join(srv.root, 'big.bin');
  await writeFile(small, 'hello from s3cmd\n');
  const bigData = randomBytes(11 * 1024 * 1024 + 7);
  await writeFile(big, bigData);

  let r = await s3cmd(cfg, 'put', small, `s3://${BUCKET}/svc/small.txt`);
  assert.equal(r.code, 0, r.out);
  r = await s3cmd(cfg, 'put', '--multipart-chunk-size-mb=5', big, `s3://${BUCKET}/svc/big.bin`);
  assert.equal(r.code, 0, r.out);
  // s3cmd sent it in three parts: a multipart ETag.
  assert.match((await srv.running.store.stat(BUCKET, 'svc/big.bin'))?.etag ?? '', /^[0-9a-f]{32}-3$/);

  r = await s3cmd(cfg, 'ls', `s3://${BUCKET}/svc/`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`\\s17\\s+s3://${BUCKET}/svc/small\\.txt`));
  assert.match(r.out, new RegExp(`\\s${bigData.length}\\s+s3://${BUCKET}/svc/big\\.bin`));

  const out = join(srv.root, 'back.bin');
  r = await s3cmd(cfg, 'get', '--force', `s3://${BUCKET}/svc/big.bin`, out);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(await readFile(out), bigData);
  r = await s3cmd(cfg, 'get', '--force', `s3://${BUCKET}/svc/small.txt`, out);
  assert.equal(r.code, 0, r.out);
  assert.equal(await readFile(out, 'utf8'), 'hello from s3cmd\n');

  r = await s3cmd(cfg, 'mb', 's3://second-bucket');
  assert.equal(r.code, 0, r.out);
  r = await s3cmd(cfg, 'ls');
  assert.match(r.out, /s3:\/\/second-bucket/);
  assert.match(r.out, new RegExp(`s3://${BUCKET}`));

  r = await s3cmd(cfg, 'del', `s3://${BUCKET}/svc/small.txt`);
  assert.equal(r.code, 0, r.out);
  r = await s3cmd(cfg, 'ls', `s3://${BUCKET}/svc/`);
  assert.doesNotMatch(r.out, /small\.txt/);
});

test('s3cmd with a wrong secret is refused with SignatureDoesNotMatch', async () => {
  const cfg = await config(`${SERVICE.secret}-wrong`);
  const r = await s3cmd(cfg, 'ls', `s3://${BUCKET}/`);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /SignatureDoesNotMatch/);
});
