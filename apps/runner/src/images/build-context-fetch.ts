import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BuildContextError } from './build-context.js';

/** Object storage as the platform sets it for every runner (SHOAL_S3_*); undefined when builds have none. */
export interface ObjectStorageConfig {
  url: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

export function objectStorageFromEnv(env: NodeJS.ProcessEnv): ObjectStorageConfig | undefined {
  if (!env.SHOAL_S3_URL || !env.SHOAL_S3_ACCESS_KEY || !env.SHOAL_S3_SECRET_KEY) return undefined;
  return {
    url: env.SHOAL_S3_URL,
    accessKey: env.SHOAL_S3_ACCESS_KEY,
    secretKey: env.SHOAL_S3_SECRET_KEY,
    bucket: env.SHOAL_S3_BUCKET || 'shoal-builds',
    region: env.SHOAL_S3_REGION || 'us-east-1',
  };
}

/** Hashes and organization ids become object keys: nothing that could climb to another organization's prefix. */
const KEY_PART = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Downloads `<bucket>/<organizationId>/<hash>/context.tar` for each hash into `dir`, stopping any object past
 * `maxBytes` while it streams (the object's declared length is not trusted).
 */
export function contextFetcher(s3: ObjectStorageConfig | undefined, maxBytes: number) {
  const client = s3
    ? new S3Client({
        endpoint: s3.url,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
      })
    : undefined;
  return async (organizationId: string, hashes: string[], dir: string): Promise<string[]> => {
    if (!client || !s3) throw new BuildContextError('this runner has no object storage configured for build contexts');
    if (!KEY_PART.test(organizationId)) throw new BuildContextError('invalid organization id for a build context');
    const out: string[] = [];
    let total = 0;
    for (const [i, hash] of hashes.entries()) {
      if (!KEY_PART.test(hash)) throw new BuildContextError(`invalid build context hash "${hash.slice(0, 80)}"`);
      const key = `${organizationId}/${hash}/context.tar`;
      const res = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key })).catch((err: Error & { name?: string }) => {
        if (err.name === 'NoSuchKey' || err.name === 'NotFound') throw new BuildContextError(`build context ${hash} not found in object storage`);
        throw new BuildContextError(`build context ${hash} could not be fetched: ${err.message.split('\n')[0]}`);
      });
      const path = join(dir, `${i}.tar`);
      const cap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          total += chunk.length;
          if (total > maxBytes) cb(new BuildContextError(`build context is larger than ${maxBytes} bytes`));
          else cb(null, chunk);
        },
      });
      await pipeline(res.Body as Readable, cap, createWriteStream(path, { mode: 0o600 }));
      out.push(path);
    }
    return out;
  };
}
