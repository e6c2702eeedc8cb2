import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ObjectStorageConfig } from '../images/build-context-fetch.js';
import { LayerArchiveError, sanitizeLayer, type SanitizeResult } from './layer-tar.js';

export { LayerArchiveError };

/*
 * A sandbox's writable layer (the overlay upper directory on its disk) as one object in object storage:
 * `sandboxes/<id>/archive.tar.zst` for an archive (the runner's copy is removed afterwards) and
 * `sandboxes/<id>/backups/<timestamp>.tar.zst` for backups. Packing is GNU tar (pax, numeric owners, the user.* and
 * overlayfs opaque xattrs, whiteouts as the char 0:0 nodes overlayfs makes) piped into zstd. Restoring never hands the
 * stored bytes to tar: layer-tar.ts reads them as hostile input and re-emits only what passed its checks, with owners
 * moved from the source sandbox's host uid range to the new one's, and GNU tar extracts that into the new disk.
 */

const KEY_RE = /^sandboxes\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})\/(archive|backups\/[0-9TZ-]{10,40})\.tar\.zst$/;
/** Object metadata holding the host uid base the layer was packed under (owners are shifted from it on restore). */
const UID_META = 'shoal-uid-base';

export function archiveKey(id: string): string {
  return `sandboxes/${id}/archive.tar.zst`;
}

export function backupKey(id: string, at = new Date()): string {
  return `sandboxes/${id}/backups/${at.toISOString().replace(/[:.]/g, '-')}.tar.zst`;
}

/** A key restore accepts for sandbox `id`: only that sandbox's own archive or backups. */
export function checkKey(id: string, key: string): void {
  const m = KEY_RE.exec(key);
  if (!m || m[1] !== id) throw new LayerArchiveError(`object key ${key.slice(0, 200)} is not an archive or backup of sandbox ${id}`);
}

const TAR_XATTRS = ['--xattrs', '--xattrs-include=user.*', '--xattrs-include=trusted.overlay.opaque'];

export interface PackResult {
  key: string;
  sizeBytes: number;
  packMs: number;
  uploadMs: number;
}

export interface RestoreResult extends SanitizeResult {
  key: string;
  ms: number;
}

export class SandboxArchiver {
  private readonly client: S3Client | undefined;

  constructor(
    private readonly s3: ObjectStorageConfig | undefined,
    private readonly tmpDir: string,
  ) {
    this.client = s3
      ? new S3Client({ endpoint: s3.url, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } })
      : undefined;
  }

  get configured(): boolean {
    return !!this.client;
  }

  private need(): { client: S3Client; s3: ObjectStorageConfig } {
    if (!this.client || !this.s3) throw new LayerArchiveError('this runner has no object storage configured (SHOAL_S3_*) for archives and backups');
    return { client: this.client, s3: this.s3 };
  }

  /**
   * Packs `upperDir` into a local file (while `during` holds, e.g. the container frozen), then uploads it under `key`.
   * The local file is removed either way.
   */
  async packAndUpload(upperDir: string, key: string, uidBase: number, during?: { enter(): Promise<void>; leave(): Promise<void> }): Promise<PackResult> {
    const { client, s3 } = this.need();
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const file = join(this.tmpDir, `${key.replace(/[^A-Za-z0-9_.-]/g, '_')}.${process.pid}.${Date.now()}`);
    try {
      const t0 = performance.now();
      await during?.enter();
      try {
        await packTo(upperDir, file);
      } finally {
        await during?.leave();
      }
      const t1 = performance.now();
      const { size } = await stat(file);
      await client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: key,
          Body: createReadStream(file),
          ContentLength: size,
          ContentType: 'application/zstd',
          Metadata: { [UID_META]: String(uidBase) },
        }),
      );
      return { key, sizeBytes: size, packMs: Math.round(t1 - t0), uploadMs: Math.round(performance.now() - t1) };
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Downloads `key` and extracts it into `upperDir` (empty, on the new sandbox's disk) for owners under `uidBase`. */
  async downloadAndRestore(key: string, upperDir: string, uidBase: number, maxBytes: number): Promise<RestoreResult> {
    const { client, s3 } = this.need();
    const t0 = performance.now();
    const res = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key })).catch((err: Error) => {
      if (err.name === 'NoSuchKey' || err.name === 'NotFound') throw new LayerArchiveError(`${key} not found in object storage`);
      throw new LayerArchiveError(`${key} could not be fetched: ${err.message.split('\n')[0]}`);
    });
    const srcUidBase = Number(res.Metadata?.[UID_META] ?? NaN);
    const zstd = spawn('zstd', ['-d', '-q', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const feed = pipeline(res.Body as Readable, zstd.stdin).catch(() => undefined);
    try {
      const r = await restoreTar(zstd.stdout, upperDir, { srcUidBase: Number.isSafeInteger(srcUidBase) ? srcUidBase : -1, dstUidBase: uidBase, maxBytes });
      return { ...r, key, ms: Math.round(performance.now() - t0) };
    } finally {
      zstd.kill('SIGKILL');
      (res.Body as Readable).destroy();
      await feed;
    }
  }

  async remove(key: string): Promise<void> {
    const { client, s3 } = this.need();
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
  }
}

/** GNU tar of `upperDir` into zstd, written to `file`. GNU tar never follows symlinks while creating (O_NOFOLLOW). */
export async function packTo(upperDir: string, file: string): Promise<void> {
  const tar = spawn('tar', ['-c', '-f', '-', '--format=pax', '--numeric-owner', '--one-file-system', ...TAR_XATTRS, '-C', upperDir, '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const zstd = spawn('zstd', ['-q', '-3', '-T0', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const tarDone = exited(tar, 'tar');
  const zstdDone = exited(zstd, 'zstd');
  await Promise.all([pipeline(tar.stdout!, zstd.stdin!), pipeline(zstd.stdout!, createWriteStream(file, { mode: 0o600 })), tarDone, zstdDone]);
}

/**
 * Extracts an uncompressed layer tar from `src` into `upperDir` through the checks of layer-tar.ts. On refusal
 * the extraction stops; what was extracted stays in `upperDir`, which the caller throws away with the sandbox's disk.
 */
export async function restoreTar(src: Readable, upperDir: string, o: { srcUidBase: number; dstUidBase: number; maxBytes: number }): Promise<SanitizeResult> {
  const tar = spawn(
    'tar',
    ['-x', '-f', '-', '-C', upperDir, '--numeric-owner', '--same-owner', '--same-permissions', '--keep-old-files', '--no-unquote', ...TAR_XATTRS],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  const done = exited(tar, 'tar');
  tar.stdin!.on('error', () => undefined);
  try {
    const r = await sanitizeLayer(src, tar.stdin!, o);
    tar.stdin!.end();
    await done;
    return r;
  } catch (err) {
    tar.kill('SIGKILL');
    await done.catch(() => undefined);
    throw err;
  }
}

function exited(p: ChildProcess, name: string): Promise<void> {
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${name} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-2).join('; ').slice(0, 400)}`));
    });
  });
}

/**
 * Freezes a running sandbox's cgroup (v2 `cgroup.freeze`) so a backup sees one moment of its files; thawed in
 * `leave` whatever happened. Where the group is missing (the sandbox is not running) both are no-ops.
 */
export function freezer(cgroupDir: string): { enter(): Promise<void>; leave(): Promise<void> } {
  const file = join(cgroupDir, 'cgroup.freeze');
  let frozen = false;
  return {
    async enter() {
      if (!(await stat(file).then(() => true, () => false))) return;
      await writeFile(file, '1');
      frozen = true;
      // The kernel sets `frozen 1` in cgroup.events once every task stopped; a few ms normally.
      for (let i = 0; i < 100; i++) {
        const ev = await readFile(join(cgroupDir, 'cgroup.events'), 'utf8').catch(() => '');
        if (/^frozen 1$/m.test(ev)) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async leave() {
      if (frozen) await writeFile(file, '0').catch(() => undefined);
      frozen = false;
    },
  };
}

/** What SandboxLayers needs of the runner's disks. */
export interface LayerDisks {
  dir(id: string): string;
  mount(id: string): Promise<void>;
  unmount(id: string): Promise<void>;
}

/**
 * The sandbox-level half used by SandboxService (which holds the sandbox's lock around each call): where the upper
 * directory is, mounting the sandbox's disk for the time of the pack or restore, and freezing a running sandbox.
 */
export class SandboxLayers {
  constructor(
    private readonly d: {
      archiver: SandboxArchiver;
      pool: LayerDisks;
      /** The v2 cgroup directory of a running sandbox (frozen during a backup). */
      cgroupDir: (id: string) => string;
    },
  ) {}

  get configured(): boolean {
    return this.d.archiver.configured;
  }

  /**
   * Packs the sandbox's upper directory and uploads it under `key`. A running sandbox is frozen while tar reads
   * (one consistent moment; the upload happens after the thaw). Its disk stays mounted if it was.
   */
  async pack(id: string, uidBase: number, key: string, running: boolean): Promise<PackResult> {
    const dir = this.d.pool.dir(id);
    const wasMounted = await isMounted(dir);
    await this.d.pool.mount(id);
    try {
      const upper = join(dir, 'upper');
      if (!(await stat(upper).then((s) => s.isDirectory(), () => false))) throw new LayerArchiveError(`sandbox ${id} has no writable layer on this runner`);
      return await this.d.archiver.packAndUpload(upper, key, uidBase, running ? freezer(this.d.cgroupDir(id)) : undefined);
    } finally {
      if (!wasMounted) await this.d.pool.unmount(id);
    }
  }

  /** Fills the new sandbox's (empty, just prepared) disk from `key` before its container first starts. */
  async restore(id: string, uidBase: number, key: string, maxBytes: number): Promise<RestoreResult> {
    checkKey(id, key);
    const dir = this.d.pool.dir(id);
    await this.d.pool.mount(id);
    try {
      const upper = join(dir, 'upper');
      await mkdir(upper, { recursive: true, mode: 0o755 });
      await chown(upper, uidBase, uidBase);
      return await this.d.archiver.downloadAndRestore(key, upper, uidBase, maxBytes);
    } finally {
      await this.d.pool.unmount(id);
    }
  }
}

async function isMounted(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === path);
}
