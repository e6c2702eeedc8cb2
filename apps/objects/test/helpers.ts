import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { mintSessionCredentials, objectStorageSessionKey } from '@shoal/contracts';
import { ObjectServer, type RunningObjectServer } from '../src/index.js';

export const SERVICE = { accessKey: 'SHOALSVCTESTKEY00001', secret: 'service-secret-for-tests-0123456789' };
export const PLATFORM_SECRET = 'objects-test-platform-secret-'.padEnd(48, 'x');
export const SESSION_KEY = objectStorageSessionKey(PLATFORM_SECRET);
export const BUCKET = 'shoal-builds';

export interface TestServer {
  running: RunningObjectServer;
  root: string;
  logs: string[];
  stop(): Promise<void>;
}

export async function startTestServer(opts: { maxObjectBytes?: number } = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-objects-'));
  const logs: string[] = [];
  const running = await new ObjectServer({
    root: join(root, 'objects'),
    host: '127.0.0.1',
    port: 0,
    region: 'us-east-1',
    buckets: [BUCKET],
    auth: { serviceAccessKey: SERVICE.accessKey, serviceSecretKey: SERVICE.secret, sessionKey: SESSION_KEY, maxSkewMs: 15 * 60 * 1000 },
    maxObjectBytes: opts.maxObjectBytes ?? 64 * 1024 * 1024,
    log: (l) => logs.push(l),
  }).listen();
  return {
    running,
    root,
    logs,
    stop: async () => {
      await running.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** An S3 client configured exactly as the Daytona SDK's ObjectStorage does (path style, session token, us-east-1). */
export function sdkLikeClient(url: string, creds: { accessKey: string; secret: string; sessionToken?: string }): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secret, ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}) },
    forcePathStyle: true,
    maxAttempts: 1,
  });
}

export function orgCredentials(organizationId: string, opts: { ttlSeconds?: number; now?: number } = {}) {
  return mintSessionCredentials(SESSION_KEY, { organizationId, bucket: BUCKET, ttlSeconds: opts.ttlSeconds ?? 3600, ...(opts.now ? { now: opts.now } : {}) });
}

/** Resolves with the S3 error code (err.name) of a failing call, or 'ok'. */
export async function s3Code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { name?: string }).name ?? String(err);
  }
}

/** The HTTP status of a failing call (HEAD errors have no body, so no code), or 200. */
export async function s3Status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  }
}
