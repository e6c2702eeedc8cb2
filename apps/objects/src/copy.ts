import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { S3Errors } from './errors.js';
import { validBucketName, validateKey } from './keys.js';
import type { ObjectMeta, ObjectStore } from './store.js';

/** `x-amz-copy-source`: `bucket/key` or `/bucket/key`, percent-encoded; a version is refused (no versioning here). */
export function parseCopySource(raw: string): { bucket: string; key: string } {
  if (raw.includes('?')) throw S3Errors.notImplemented('Copying a version of an object');
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw S3Errors.invalidArgument('Malformed percent-encoding in x-amz-copy-source');
  }
  const rest = decoded.replace(/^\//, '');
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw S3Errors.invalidArgument('x-amz-copy-source must be bucket/key');
  const bucket = rest.slice(0, slash);
  const key = rest.slice(slash + 1);
  if (!validBucketName(bucket)) throw S3Errors.invalidBucketName();
  validateKey(key);
  return { bucket, key };
}

/**
 * CopyObject (s3fs renames with it and rewrites an object's metadata by copying it onto itself with
 * `x-amz-metadata-directive: REPLACE`). The data is streamed from the source's open handle into a new object written
 * atomically like a PUT, so copying onto itself is safe.
 */
export async function copyObject(
  store: ObjectStore,
  req: IncomingMessage,
  src: { bucket: string; key: string },
  dest: { bucket: string; key: string },
  requestMeta: { contentType: string; userMeta: Record<string, string> },
): Promise<ObjectMeta> {
  const directive = String(req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw S3Errors.invalidArgument('x-amz-metadata-directive must be COPY or REPLACE');
  if (directive === 'COPY' && src.bucket === dest.bucket && src.key === dest.key) {
    throw S3Errors.invalidRequest(
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const { handle, meta } = await store.open(src.bucket, src.key);
  try {
    const base = directive === 'REPLACE' ? { key: dest.key, ...requestMeta } : { key: dest.key, contentType: meta.contentType, userMeta: meta.userMeta };
    return await store.put(dest.bucket, dest.key, base, async (sink: Writable) => {
      const md5 = createHash('md5');
      let crc = 0;
      let size = 0;
      const rs = meta.size > 0 ? handle.createReadStream({ start: 0, end: meta.size - 1, autoClose: false }) : Readable.from([]);
      await pipeline(
        rs,
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            md5.update(chunk);
            crc = crc32(chunk, crc);
            size += chunk.length;
            done(null, chunk);
          },
        }),
        sink,
      );
      const b = Buffer.alloc(4);
      b.writeUInt32BE(crc >>> 0);
      return { size, md5Hex: md5.digest('hex'), crc32: b.toString('base64') };
    });
  } finally {
    await handle.close();
  }
}
