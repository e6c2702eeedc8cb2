import { createWriteStream } from 'node:fs';
import { chmod, chown, realpath, rename, stat, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type BusboyModule from 'busboy';
import { BULK_DOWNLOAD_BOUNDARY_PREFIX } from '@shoal/contracts';
import { badRequest, fromErrno, ToolboxError } from '../http/errors.js';
import type { FilesService } from './files.service.js';

/**
 * Content-Disposition filename parameters for a requested path. The SDK's busboy reads `filename*` before
 * `filename` and decodes a plain `filename` as latin1, so any byte outside printable ASCII goes into the RFC 5987
 * form; the plain form keeps a readable fallback. The SDK matches parts to requests by this exact string.
 */
export function dispositionFilename(path: string): string {
  const plain = path.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '\\$&');
  if (/^[\x20-\x7e]*$/.test(path)) return `filename="${plain}"`;
  const extended = encodeURIComponent(path).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `filename="${plain}"; filename*=UTF-8''${extended}`;
}

function write(res: ServerResponse, chunk: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) return reject(new Error('client went away'));
    if (res.write(chunk)) return resolve();
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('client went away'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/**
 * `bytes` random bytes as hex, from the Web Crypto global: Node loads its crypto internals on first use of it, not at
 * the daemon's start (code-cache-loader.ts says what that saves).
 */
function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

/**
 * `POST /files/bulk-download`: one part per requested path, in request order, streamed from disk. A path that cannot
 * be read becomes an `error` part carrying the message (the SDK reports it per file instead of failing the batch).
 */
export async function streamBulkDownload(files: FilesService, paths: string[], res: ServerResponse): Promise<void> {
  const boundary = `${BULK_DOWNLOAD_BOUNDARY_PREFIX}-${randomHex(12)}`;
  res.writeHead(200, { 'content-type': `multipart/form-data; boundary=${boundary}` });
  for (const path of paths) {
    let opened;
    try {
      opened = await files.openForRead(path);
    } catch (err) {
      const reason = err instanceof ToolboxError ? err.message : String(err);
      await write(
        res,
        `--${boundary}\r\nContent-Disposition: form-data; name="error"; ${dispositionFilename(path)}\r\n` +
          `Content-Type: text/plain; charset=utf-8\r\n\r\nfile not found or invalid: ${reason}\r\n`,
      );
      continue;
    }
    try {
      await write(
        res,
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; ${dispositionFilename(path)}\r\n` +
          `Content-Type: application/octet-stream\r\n\r\n`,
      );
      await pipeline(opened.handle.createReadStream({ autoClose: false }), res, { end: false });
      await write(res, '\r\n');
    } finally {
      await opened.handle.close().catch(() => undefined);
    }
  }
  res.end(`--${boundary}--\r\n`);
}

export async function streamDownload(files: FilesService, path: string, res: ServerResponse): Promise<void> {
  const opened = await files.openForRead(path);
  try {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': opened.size,
      'content-disposition': `attachment; ${dispositionFilename(basename(opened.abs))}`,
    });
    await pipeline(opened.handle.createReadStream({ autoClose: false }), res);
  } finally {
    await opened.handle.close().catch(() => undefined);
  }
}

/**
 * Copies one multipart part to its file. Unlike `pipeline`, a failing file (disk full, no permission) never destroys
 * the part: busboy only goes on to the next part once this one ended, and a destroyed part never ends, so the whole
 * request would wait for good. The rest of a failed part is read and dropped instead. A part that busboy ended early
 * (the request was cut off) fails its file, which is then closed before this settles, so the caller can remove it.
 */
function copyPart(part: Readable, file: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    const partGone = () => {
      if (!part.readableEnded) file.destroy(part.errored ?? new Error('the upload ended before this file did'));
    };
    file.once('error', (err) => {
      failure = err;
      part.off('close', partGone);
      part.unpipe(file);
      part.resume();
    });
    file.once('close', () => {
      part.off('close', partGone);
      if (failure) reject(failure);
      else if (!file.writableFinished) reject(new Error('the file closed before the part was written'));
      else resolve();
    });
    if (part.destroyed) return partGone();
    part.once('close', partGone);
    part.pipe(file);
  });
}

export interface UploadOutcome {
  written: string[];
  errors: string[];
}

/**
 * Streams a multipart upload to disk, one file at a time as busboy yields it, never holding a whole file in memory.
 * `destinationFor` maps a file part's field name to a destination path, or explains why there is none.
 * Malformed multipart rejects with a 400; per-file failures are collected and the rest still land.
 */
export async function receiveMultipart(
  files: FilesService,
  req: IncomingMessage,
  destinationFor: (field: string, fields: Map<string, string>) => string | Error | undefined,
): Promise<UploadOutcome> {
  // Loaded by the first upload, not at the daemon's start (about 1.3 ms of every sandbox start otherwise).
  const { default: busboy } = await import('busboy');
  return new Promise((resolve, reject) => {
    let parser: BusboyModule.Busboy;
    try {
      parser = busboy({ headers: req.headers, preservePath: true, limits: { fieldSize: 1024 * 1024 } });
    } catch (err) {
      reject(badRequest(`invalid multipart request: ${(err as Error).message}`));
      return;
    }
    const fields = new Map<string, string>();
    const outcome: UploadOutcome = { written: [], errors: [] };
    const tasks: Promise<void>[] = [];
    let failed = false;

    // Each file is written beside its target and renamed over it only once complete, so a truncated or aborted upload
    // never leaves a partial file behind nor destroys the file it was replacing. A replaced file keeps its mode and owner.
    const store = async (stream: Readable, destination: string) => {
      let tmp: string | undefined;
      try {
        const abs = files.resolve(destination);
        await files.ensureParent(abs);
        const target = await realpath(abs).catch(() => abs);
        const previous = await stat(target).catch(() => undefined);
        tmp = join(dirname(target), `.${basename(target)}.upload-${randomHex(6)}`);
        await copyPart(stream, createWriteStream(tmp, { flags: 'wx' }));
        if (previous?.isFile()) {
          await chmod(tmp, previous.mode & 0o7777);
          await chown(tmp, previous.uid, previous.gid).catch(() => undefined);
        }
        await rename(tmp, target);
        tmp = undefined;
        outcome.written.push(destination);
      } catch (err) {
        stream.resume();
        if (tmp) await unlink(tmp).catch(() => undefined);
        outcome.errors.push(fromErrno(err, destination).message);
      }
    };

    parser.on('field', (name, value) => fields.set(name, value));
    parser.on('file', (name, stream) => {
      // busboy destroys a part with an error when the request is cut off; copyPart reads that from `errored`.
      stream.on('error', () => undefined);
      const destination = destinationFor(name, fields);
      if (destination === undefined) {
        stream.resume();
        return;
      }
      if (destination instanceof Error) {
        outcome.errors.push(destination.message);
        stream.resume();
        return;
      }
      tasks.push(store(stream, destination));
    });
    parser.on('error', (err: Error) => {
      if (failed) return;
      failed = true;
      req.unpipe(parser);
      req.resume();
      // busboy destroys the file stream in flight, so the pending writes settle (and clean up) promptly.
      void Promise.allSettled(tasks).then(() => reject(badRequest(`malformed multipart body: ${err.message}`)));
    });
    parser.on('close', () => {
      if (failed) return;
      void Promise.all(tasks).then(() => resolve(outcome));
    });
    req.on('aborted', () => parser.destroy(new Error('request aborted')));
    req.pipe(parser);
  });
}

const BULK_PATH = /^files\[(\d+)\]\.path$/;
const BULK_FILE = /^files\[(\d+)\]\.file$/;

/** The destination of `files[i].file` is the value of the `files[i].path` field sent before it. */
export function bulkDestination(field: string, fields: Map<string, string>): string | Error | undefined {
  const m = BULK_FILE.exec(field);
  if (!m) return undefined;
  const path = fields.get(`files[${m[1]}].path`);
  if (!path) return new Error(`${field}: no files[${m[1]}].path field precedes it`);
  return path;
}

export const isBulkPathField = (name: string) => BULK_PATH.test(name);
