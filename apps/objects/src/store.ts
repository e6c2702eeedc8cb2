import { randomBytes, createHash } from 'node:crypto';
import { constants, createWriteStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { S3Errors } from './errors.js';
import { decodeSegment, dirName, encodeSegment, keyPath } from './keys.js';

/*
 * On-disk layout under the data directory (`<dataDir>/objects`):
 *   buckets/<bucket>/d<seg>/…/o<seg>   one file per object: the data, then a JSON trailer (metadata), its length
 *                                       (uint32 BE) and MAGIC. One file means one rename publishes data and metadata
 *                                       together, and a reader holding the fd sees one consistent version.
 *   tmp/                               bodies being received; renamed into place only when complete and verified.
 *   multipart/<uploadId>/              upload.json and part-<n> files (same format as objects).
 * Key segments are percent-encoded into file names (keys.ts), so no key names a path outside its bucket, and every
 * file is opened with O_NOFOLLOW.
 */

const MAGIC = Buffer.from('SHOALOBJ1\n');
const TRAILER_FIXED = 4 + MAGIC.length;
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

export interface ObjectMeta {
  key: string;
  size: number;
  etag: string;
  lastModified: number;
  contentType: string;
  /** Base64 CRC32 of the whole object. */
  crc32: string;
  userMeta: Record<string, string>;
}

export interface OpenObject {
  handle: FileHandle;
  meta: ObjectMeta;
}

interface UploadInfo {
  bucket: string;
  key: string;
  contentType: string;
  userMeta: Record<string, string>;
  initiated: number;
}

export interface ListEntry {
  key: string;
}

export class ObjectStore {
  constructor(readonly root: string) {}

  private bucketDir(bucket: string): string {
    return join(this.root, 'buckets', bucket);
  }

  async init(buckets: string[]): Promise<void> {
    for (const d of ['buckets', 'tmp', 'multipart']) await mkdir(join(this.root, d), { recursive: true, mode: 0o700 });
    for (const b of buckets) await mkdir(this.bucketDir(b), { recursive: true, mode: 0o700 });
  }

  async bucketExists(bucket: string): Promise<boolean> {
    return stat(this.bucketDir(bucket)).then((s) => s.isDirectory(), () => false);
  }

  async requireBucket(bucket: string): Promise<void> {
    if (!(await this.bucketExists(bucket))) throw S3Errors.noSuchBucket();
  }

  async listBuckets(): Promise<Array<{ name: string; created: Date }>> {
    const out: Array<{ name: string; created: Date }> = [];
    for (const e of await readdir(join(this.root, 'buckets'), { withFileTypes: true })) {
      if (e.isDirectory()) out.push({ name: e.name, created: (await stat(join(this.root, 'buckets', e.name))).birthtime });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async createBucket(bucket: string): Promise<void> {
    try {
      await mkdir(this.bucketDir(bucket), { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw S3Errors.bucketAlreadyOwnedByYou();
      throw err;
    }
  }

  async deleteBucket(bucket: string): Promise<void> {
    await this.requireBucket(bucket);
    try {
      await rmdir(this.bucketDir(bucket));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') throw S3Errors.bucketNotEmpty();
      throw err;
    }
  }

  private objectPath(bucket: string, key: string): string {
    return join(this.bucketDir(bucket), ...keyPath(key));
  }

  private tempPath(): string {
    return join(this.root, 'tmp', `${Date.now()}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Writes a file in the object format: `fill` streams the data into the sink and returns the metadata, then the
   * trailer is appended, the file synced and renamed to `dest`. Nothing is left at `dest` or in tmp on failure.
   */
  private async writeAtomically(dest: string, fill: (sink: Writable) => Promise<ObjectMeta>): Promise<ObjectMeta> {
    const path = this.tempPath();
    let published = false;
    // 'wx' is O_CREAT|O_EXCL: it never opens an existing file or follows a symlink.
    const sink = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    try {
      const meta = await fill(sink);
      const json = Buffer.from(JSON.stringify(meta));
      const len = Buffer.alloc(4);
      len.writeUInt32BE(json.length);
      const handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
      try {
        const st = await handle.stat();
        if (st.size !== meta.size) throw S3Errors.internal();
        await handle.write(Buffer.concat([json, len, MAGIC]));
        await handle.datasync();
      } finally {
        await handle.close();
      }
      for (let attempt = 0; ; attempt++) {
        await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
        try {
          await rename(path, dest);
          break;
        } catch (err) {
          // A concurrent delete may have pruned the (then empty) directory between mkdir and rename.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
        }
      }
      published = true;
      return meta;
    } finally {
      if (!published) {
        if (!sink.closed) {
          sink.destroy();
          await once(sink, 'close').catch(() => undefined);
        }
        await rm(path, { force: true }).catch(() => undefined);
      }
    }
  }

  async put(bucket: string, key: string, base: Omit<ObjectMeta, 'size' | 'etag' | 'crc32' | 'lastModified'>, receive: (sink: Writable) => Promise<{ size: number; md5Hex: string; crc32: string }>): Promise<ObjectMeta> {
    await this.requireBucket(bucket);
    return this.writeAtomically(this.objectPath(bucket, key), async (sink) => {
      const r = await receive(sink);
      return { ...base, size: r.size, etag: r.md5Hex, crc32: r.crc32, lastModified: Date.now() };
    });
  }

  private async openFile(path: string): Promise<OpenObject | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
      throw err;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.size < TRAILER_FIXED) throw S3Errors.internal();
      const tail = Buffer.alloc(TRAILER_FIXED);
      await handle.read(tail, 0, TRAILER_FIXED, st.size - TRAILER_FIXED);
      if (!tail.subarray(4).equals(MAGIC)) throw S3Errors.internal();
      const jsonLen = tail.readUInt32BE(0);
      const json = Buffer.alloc(jsonLen);
      await handle.read(json, 0, jsonLen, st.size - TRAILER_FIXED - jsonLen);
      const meta = JSON.parse(json.toString('utf8')) as ObjectMeta;
      return { handle, meta };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The object's metadata and an open handle (the caller closes it); NoSuchKey when absent. */
  async open(bucket: string, key: string): Promise<OpenObject> {
    await this.requireBucket(bucket);
    const o = await this.openFile(this.objectPath(bucket, key));
    if (!o) throw S3Errors.noSuchKey();
    return o;
  }

  /** Deletes the object (absent is fine, as in S3) and prunes directories it leaves empty. */
  async delete(bucket: string, key: string): Promise<void> {
    await this.requireBucket(bucket);
    const path = this.objectPath(bucket, key);
    await rm(path, { force: true });
    const top = this.bucketDir(bucket);
    for (let dir = dirname(path); dir.length > top.length && dir.startsWith(top); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  /** Every key starting with `prefix`, in S3 order (UTF-8 bytes); `limit` bounds the walk. */
  async keys(bucket: string, prefix: string, limit = 1_000_000): Promise<string[]> {
    await this.requireBucket(bucket);
    const segs = prefix.split('/');
    const partial = segs.pop()!;
    let dir = this.bucketDir(bucket);
    for (const s of segs) dir = join(dir, dirName(s));
    const base = segs.length > 0 ? `${segs.join('/')}/` : '';
    const out: string[] = [];
    const walk = async (d: string, keyPrefix: string, filter: string | undefined): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const e of entries) {
        if (out.length >= limit) return;
        const tag = e.name[0];
        let seg: string;
        try {
          seg = decodeSegment(e.name.slice(1));
        } catch {
          continue;
        }
        if (encodeSegment(seg) !== e.name.slice(1)) continue;
        if (filter !== undefined && !seg.startsWith(filter)) continue;
        if (tag === 'o' && e.isFile()) out.push(keyPrefix + seg);
        else if (tag === 'd' && e.isDirectory()) await walk(join(d, e.name), `${keyPrefix}${seg}/`, undefined);
      }
    };
    await walk(dir, base, partial);
    return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** Metadata of one object for a listing; undefined when it vanished since the walk. */
  async stat(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    const o = await this.openFile(this.objectPath(bucket, key));
    if (!o) return undefined;
    await o.handle.close();
    return o.meta;
  }

  // --- multipart -------------------------------------------------------------------------------------------------

  private uploadDir(uploadId: string): string {
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw S3Errors.noSuchUpload();
    return join(this.root, 'multipart', uploadId);
  }

  async createUpload(bucket: string, key: string, contentType: string, userMeta: Record<string, string>): Promise<string> {
    await this.requireBucket(bucket);
    const id = randomBytes(16).toString('hex');
    const dir = this.uploadDir(id);
    await mkdir(dir, { mode: 0o700 });
    const info: UploadInfo = { bucket, key, contentType, userMeta, initiated: Date.now() };
    await writeFile(join(dir, 'upload.json'), JSON.stringify(info), { mode: 0o600, flag: 'wx' });
    return id;
  }

  private async upload(uploadId: string, bucket: string, key: string): Promise<UploadInfo> {
    const dir = this.uploadDir(uploadId);
    let info: UploadInfo;
    try {
      info = JSON.parse(await readFile(join(dir, 'upload.json'), 'utf8')) as UploadInfo;
    } catch {
      throw S3Errors.noSuchUpload();
    }
    // An upload id only works for the bucket and key it was created for: a credential scoped to another prefix cannot
    // write into someone else's upload by knowing its id.
    if (info.bucket !== bucket || info.key !== key) throw S3Errors.noSuchUpload();
    return info;
  }

  async uploadPart(uploadId: string, bucket: string, key: string, partNumber: number, receive: (sink: Writable) => Promise<{ size: number; md5Hex: string; crc32: string }>): Promise<string> {
    await this.upload(uploadId, bucket, key);
    const meta = await this.writeAtomically(join(this.uploadDir(uploadId), `part-${partNumber}`), async (sink) => {
      const r = await receive(sink);
      return { key, size: r.size, etag: r.md5Hex, crc32: r.crc32, lastModified: Date.now(), contentType: '', userMeta: {} };
    });
    return meta.etag;
  }

  async completeUpload(uploadId: string, bucket: string, key: string, parts: Array<{ partNumber: number; etag: string }>, maxBytes: number): Promise<ObjectMeta> {
    const info = await this.upload(uploadId, bucket, key);
    const dir = this.uploadDir(uploadId);
    for (let i = 1; i < parts.length; i++) if (parts[i]!.partNumber <= parts[i - 1]!.partNumber) throw S3Errors.invalidPartOrder();
    const opened: OpenObject[] = [];
    try {
      let total = 0;
      for (const [i, p] of parts.entries()) {
        if (!Number.isInteger(p.partNumber) || p.partNumber < 1 || p.partNumber > MAX_PARTS) throw S3Errors.invalidPart();
        const o = await this.openFile(join(dir, `part-${p.partNumber}`));
        if (!o) throw S3Errors.invalidPart();
        opened.push(o);
        if (o.meta.etag !== p.etag) throw S3Errors.invalidPart();
        if (i < parts.length - 1 && o.meta.size < MIN_PART_BYTES) throw S3Errors.entityTooSmall();
        total += o.meta.size;
      }
      if (total > maxBytes) throw S3Errors.entityTooLarge(maxBytes);
      const etagHash = createHash('md5');
      for (const o of opened) etagHash.update(Buffer.from(o.meta.etag, 'hex'));
      const etag = `${etagHash.digest('hex')}-${parts.length}`;
      const meta = await this.writeAtomically(this.objectPath(bucket, key), async (sink) => {
        let crc = 0;
        for (const o of opened) {
          if (o.meta.size === 0) continue;
          for await (const c of o.handle.createReadStream({ start: 0, end: o.meta.size - 1, autoClose: false }) as AsyncIterable<Buffer>) {
            crc = crc32(c, crc);
            if (!sink.write(c)) await once(sink, 'drain');
          }
        }
        sink.end();
        await finished(sink);
        const b = Buffer.alloc(4);
        b.writeUInt32BE(crc >>> 0);
        return { key, size: total, etag, crc32: b.toString('base64'), lastModified: Date.now(), contentType: info.contentType, userMeta: info.userMeta };
      });
      await rm(dir, { recursive: true, force: true });
      return meta;
    } finally {
      for (const o of opened) await o.handle.close().catch(() => undefined);
    }
  }

  async abortUpload(uploadId: string, bucket: string, key: string): Promise<void> {
    await this.upload(uploadId, bucket, key);
    await rm(this.uploadDir(uploadId), { recursive: true, force: true });
  }

  /** Removes temp files older than `tmpAgeMs` and uploads never completed within `uploadAgeMs`. */
  async sweep(tmpAgeMs: number, uploadAgeMs: number, now = Date.now()): Promise<void> {
    for (const [sub, age] of [['tmp', tmpAgeMs], ['multipart', uploadAgeMs]] as const) {
      const dir = join(this.root, sub);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const st = await stat(join(dir, name)).catch(() => undefined);
        if (st && now - st.mtimeMs > age) await rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }
}
