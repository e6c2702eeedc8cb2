import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { objectStorageServiceCredentials, objectStorageSessionKey } from '@shoal/contracts';
import { ManagedProcess } from './managed-process.js';
import { waitForHttp } from './registry.js';

const repoRoot = resolve(new URL('../../..', import.meta.url).pathname);

/** What the API and every runner are told about object storage (SHOAL_S3_*), embedded or external. */
export interface ObjectStorageEndpoint {
  url: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** SHOAL_S3_PUSH_ACCESS for the API (README "Object storage"). */
  pushAccess: 'session' | 'shared' | 'none';
}

export interface RunningObjectStorage {
  endpoint: ObjectStorageEndpoint;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** The SHOAL_S3_* variables the API and runners get. */
export function objectStorageEnv(e: ObjectStorageEndpoint): NodeJS.ProcessEnv {
  return { SHOAL_S3_URL: e.url, SHOAL_S3_ACCESS_KEY: e.accessKey, SHOAL_S3_SECRET_KEY: e.secretKey, SHOAL_S3_BUCKET: e.bucket, SHOAL_S3_REGION: e.region };
}

/**
 * Starts Shoal's embedded S3-compatible server (apps/objects) with its data in `<dataDir>/objects`. Its service
 * credential and the key that verifies push-access credentials are derived from the platform secret, so they survive
 * restarts and never need storing; the server gets the derived key, not the platform secret.
 */
export async function startObjectStorage(opts: {
  dataDir: string;
  host: string;
  port: number;
  platformSecret: string;
  bucket?: string;
  region?: string;
  log: (line: string) => void;
  pidFile?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<RunningObjectStorage> {
  const root = join(opts.dataDir, 'objects');
  await mkdir(root, { recursive: true, mode: 0o700 });
  const service = objectStorageServiceCredentials(opts.platformSecret);
  const bucket = opts.bucket ?? 'shoal-builds';
  const region = opts.region ?? 'us-east-1';
  const proc = new ManagedProcess({
    name: 'objects',
    command: process.execPath,
    args: ['--import', 'tsx', join(repoRoot, 'apps/objects/src/main.ts')],
    cwd: repoRoot,
    log: opts.log,
    // Stopped by the supervisor after the API and runners, not by a Ctrl-C to the terminal's group.
    ownProcessGroup: true,
    ...(opts.pidFile ? { pidFile: opts.pidFile } : {}),
    env: {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      NODE_ENV: 'production',
      SHOAL_OBJECTS_DATA_DIR: root,
      SHOAL_OBJECTS_HOST: opts.host,
      SHOAL_OBJECTS_PORT: String(opts.port),
      SHOAL_S3_ACCESS_KEY: service.accessKey,
      SHOAL_S3_SECRET_KEY: service.secret,
      SHOAL_S3_TOKEN_KEY: objectStorageSessionKey(opts.platformSecret),
      SHOAL_S3_BUCKET: bucket,
      SHOAL_S3_REGION: region,
      ...opts.env,
    },
  });
  proc.start();
  const hostForUrl = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${hostForUrl}:${opts.port}`;
  // Anonymous requests get 403 AccessDenied: an answer below 500 means it listens.
  await waitForHttp(`${url}/`, 30_000, () => proc.running);
  return { endpoint: { url, accessKey: service.accessKey, secretKey: service.secret, bucket, region, pushAccess: 'session' }, process: proc, stop: () => proc.stop() };
}
