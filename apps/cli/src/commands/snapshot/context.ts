import { createHash, type Hash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { create as createTar } from 'tar';
import type { Api } from '../../api.js';
import { UsageError } from '../../errors.js';

/** GET /object-storage/push-access (Daytona StorageAccessDto): short-lived credentials for the organization's prefix. */
interface PushAccess {
  accessKey: string;
  secret: string;
  sessionToken: string;
  storageUrl: string;
  organizationId: string;
  bucket?: string;
}

async function hashFile(path: string, hasher: Hash): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 8192 })) hasher.update(chunk as Buffer);
}

// The SDK's walk (ObjectStorage.hashDirectory): readdir order, files as relative path + bytes, empty directories as
// their relative path; anything that is neither a file nor a directory does not count.
async function hashDirectory(dir: string, root: string, hasher: Hash): Promise<void> {
  const entries = readdirSync(dir, { withFileTypes: true });
  if (!entries.some((e) => e.isDirectory() || e.isFile())) hasher.update(relative(root, dir));
  for (const e of entries) {
    const full = join(dir, e.name);
    if (e.isDirectory()) await hashDirectory(full, root, hasher);
    else if (e.isFile()) {
      hasher.update(relative(root, full));
      await hashFile(full, hasher);
    }
  }
}

/**
 * The context's key, computed as the SDK computes it for a context whose archive path is `.` (MD5 of the archive path,
 * then the walk), so the CLI and `Image.fromDockerfile` users share uploads of the same directory.
 */
export async function contextHash(dir: string): Promise<string> {
  const hasher = createHash('md5').update('.');
  await hashDirectory(resolve(dir), resolve(dir), hasher);
  return hasher.digest('hex');
}

/**
 * Uploads `dir` as an uncompressed tar to `<bucket>/<org>/<hash>/context.tar` unless that prefix already holds it,
 * and returns the hash for `buildInfo.contextHashes`. The tar holds `./…` entries: the runner extracts it into the
 * build-context root, so COPY sources resolve against `dir` as with `docker build -f … dir`.
 */
export async function uploadContext(api: Api, dir: string, log: (line: string) => void): Promise<string> {
  const root = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new UsageError(`build context ${dir} is not a directory`);
  const hash = await contextHash(root);
  const access = await api.request<PushAccess>('GET', '/object-storage/push-access');
  const bucket = access.bucket || 'daytona-volume-builds';
  const s3 = new S3Client({
    region: /s3[.-]([a-z0-9-]+)\.amazonaws\.com/.exec(access.storageUrl)?.[1] ?? 'us-east-1',
    endpoint: access.storageUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: access.accessKey, secretAccessKey: access.secret, sessionToken: access.sessionToken },
  });
  try {
    const prefix = `${access.organizationId}/${hash}/`;
    const existing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }));
    if (existing.Contents?.length) {
      log(`Build context ${hash} is already uploaded\n`);
      return hash;
    }
    log(`Uploading build context ${dir} (${hash})\n`);
    const body = new PassThrough();
    createTar({ cwd: root, portable: true, gzip: false }, ['.']).pipe(body);
    await new Upload({ client: s3, params: { Bucket: bucket, Key: `${prefix}context.tar`, Body: body } }).done();
    return hash;
  } finally {
    s3.destroy();
  }
}
