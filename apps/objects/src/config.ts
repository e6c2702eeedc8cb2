import { join } from 'node:path';
import { validBucketName } from './keys.js';
import type { ObjectServerOptions } from './server.js';

type Env = Record<string, string | undefined>;

/** 5 GiB, S3's single-PUT limit; also the cap on a completed multipart object here. */
const DEFAULT_MAX_OBJECT_BYTES = 5 * 1024 ** 3;

/** The object server's configuration from its environment; every problem is reported in one error. */
export function loadObjectsConfig(env: Env = process.env, log: (l: string) => void = (l) => console.log(l)): ObjectServerOptions {
  const errors: string[] = [];
  const dataDir = env.SHOAL_OBJECTS_DATA_DIR;
  if (!dataDir) errors.push('SHOAL_OBJECTS_DATA_DIR is required (the platform sets <dataDir>/objects)');
  const port = Number(env.SHOAL_OBJECTS_PORT ?? '');
  if (!Number.isInteger(port) || port < 0 || port > 65535) errors.push('SHOAL_OBJECTS_PORT must be a port number');
  const accessKey = env.SHOAL_S3_ACCESS_KEY ?? '';
  const secretKey = env.SHOAL_S3_SECRET_KEY ?? '';
  if (accessKey.length < 8 || secretKey.length < 16) errors.push('SHOAL_S3_ACCESS_KEY (>= 8 characters) and SHOAL_S3_SECRET_KEY (>= 16) are required');
  const sessionKey = env.SHOAL_S3_TOKEN_KEY || undefined;
  if (sessionKey && sessionKey.length < 32) errors.push('SHOAL_S3_TOKEN_KEY must be at least 32 characters');
  const bucket = env.SHOAL_S3_BUCKET || 'shoal-builds';
  if (!validBucketName(bucket)) errors.push(`SHOAL_S3_BUCKET is not a valid bucket name: "${bucket}"`);
  const maxRaw = env.SHOAL_OBJECTS_MAX_OBJECT_BYTES;
  const maxObjectBytes = maxRaw ? Number(maxRaw) : DEFAULT_MAX_OBJECT_BYTES;
  if (!Number.isInteger(maxObjectBytes) || maxObjectBytes < 1) errors.push('SHOAL_OBJECTS_MAX_OBJECT_BYTES must be a positive integer');
  if (errors.length) throw new Error(`Invalid configuration:\n  - ${errors.join('\n  - ')}`);
  return {
    root: dataDir!,
    host: env.SHOAL_OBJECTS_HOST || '127.0.0.1',
    port,
    region: env.SHOAL_S3_REGION || 'us-east-1',
    buckets: [bucket],
    auth: { serviceAccessKey: accessKey, serviceSecretKey: secretKey, sessionKey, maxSkewMs: 15 * 60 * 1000 },
    maxObjectBytes,
    log,
  };
}

export function objectsRoot(dataDir: string): string {
  return join(dataDir, 'objects');
}
