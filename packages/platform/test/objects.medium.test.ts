import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mintSessionCredentials, objectStorageSessionKey } from '@shoal/contracts';
import { endLeftovers } from '../src/leftovers.js';
import { startObjectStorage } from '../src/objects.js';
import { freePort } from '../src/ports.js';

/*
 * The embedded object storage as `shoal up` runs it: its own process (apps/objects/src/main.ts) with a pid file,
 * credentials derived from the platform secret (stable across restarts), data under <dataDir>/objects, and a stop
 * that leaves no process behind; a leftover from a killed supervisor is ended by the next start.
 */

const SECRET = 'platform-objects-test-secret-'.padEnd(64, 'z');
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the object storage process: start, serve service and push-access credentials, stop, restart with the same data and keys, leftover ended', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-platform-objects-'));
  dirs.push(dataDir);
  const pids = join(dataDir, 'pids');
  const port = await freePort();
  const lines: string[] = [];
  const start = () => startObjectStorage({ dataDir, host: '127.0.0.1', port, platformSecret: SECRET, log: (l) => lines.push(l), pidFile: join(pids, 'objects.pid') });
  const first = await start();
  const pid = first.process.pid!;
  assert.equal(Number(readFileSync(join(pids, 'objects.pid'), 'utf8').split(' ')[0]), pid);
  const svc = new S3Client({
    region: first.endpoint.region,
    endpoint: first.endpoint.url,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: first.endpoint.accessKey, secretAccessKey: first.endpoint.secretKey },
  });
  await svc.send(new PutObjectCommand({ Bucket: first.endpoint.bucket, Key: 'org-1/h/context.tar', Body: 'persisted' }));
  assert.ok(existsSync(join(dataDir, 'objects', 'buckets', 'shoal-builds')));
  const creds = mintSessionCredentials(objectStorageSessionKey(SECRET), { organizationId: 'org-1', bucket: 'shoal-builds', ttlSeconds: 600 });
  const tenant = new S3Client({
    region: 'us-east-1',
    endpoint: first.endpoint.url,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secret, sessionToken: creds.sessionToken },
  });
  const listed = await tenant.send(new ListObjectsV2Command({ Bucket: 'shoal-builds', Prefix: 'org-1/h/', MaxKeys: 1 }));
  assert.equal(listed.Contents?.length, 1);
  await first.stop();
  assert.equal(alive(pid), false);
  assert.equal(existsSync(join(pids, 'objects.pid')), false);

  // Same secret, same credentials, same data after a restart.
  const second = await start();
  assert.equal(second.endpoint.accessKey, first.endpoint.accessKey);
  const got = await svc.send(new GetObjectCommand({ Bucket: 'shoal-builds', Key: 'org-1/h/context.tar' }));
  assert.equal(await got.Body!.transformToString(), 'persisted');
  // A supervisor SIGKILLed now would leave this process (own process group): the next start ends it from its pid file.
  const leftover = second.process.pid!;
  await endLeftovers(pids, ['objects'], 5000, () => undefined);
  await second.process.waitExit();
  assert.equal(alive(leftover), false);
  assert.ok(lines.some((l) => /\[objects\] listening on http:\/\/127\.0\.0\.1:\d+/.test(l)), lines.join('\n'));
});
