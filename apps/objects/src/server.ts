import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { authenticate, parseQuery, type AuthConfig, type Principal } from './auth.js';
import { receiveBody, readSmallBody } from './body.js';
import { copyObject, parseCopySource } from './copy.js';
import { S3Error, S3Errors } from './errors.js';
import { validBucketName, validateKey } from './keys.js';
import { authorize } from './policy.js';
import { MAX_PARTS, ObjectStore, type ObjectMeta } from './store.js';
import { doc, el, errorXml, esc, parseCompleteParts } from './xml.js';

export interface ObjectServerOptions {
  /** `<dataDir>/objects`. */
  root: string;
  host: string;
  port: number;
  region: string;
  /** Created at start when missing (SHOAL_S3_BUCKET). */
  buckets: string[];
  auth: AuthConfig;
  /** Largest object (and part) accepted, in bytes. */
  maxObjectBytes: number;
  log: (line: string) => void;
}

export interface RunningObjectServer {
  url: string;
  server: Server;
  store: ObjectStore;
  close(): Promise<void>;
}

const SWEEP_MS = 60 * 60 * 1000;
const ORPHAN_TMP_MS = 60 * 60 * 1000;
const ORPHAN_UPLOAD_MS = 24 * 60 * 60 * 1000;
/** Object sub-resources and parameters this server answers; anything else is NotImplemented rather than misread. */
const KNOWN_QUERY = new Set(['x-id', 'list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner', 'marker', 'uploads', 'uploadId', 'partNumber', 'location']);

function q1(query: Record<string, string | string[]>, name: string): string | undefined {
  const v = query[name];
  return Array.isArray(v) ? v[0] : v;
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw S3Errors.invalidArgument('Malformed percent-encoding in the request path');
  }
}

function userMeta(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-amz-meta-') && typeof v === 'string') out[k] = v;
  return out;
}

function objectHeaders(res: ServerResponse, meta: ObjectMeta): void {
  res.setHeader('etag', `"${meta.etag}"`);
  res.setHeader('last-modified', new Date(meta.lastModified).toUTCString());
  res.setHeader('content-type', meta.contentType || 'binary/octet-stream');
  res.setHeader('accept-ranges', 'bytes');
  for (const [k, v] of Object.entries(meta.userMeta)) res.setHeader(k, v);
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range, as the SDK and the runner use); undefined: the whole object. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) throw S3Errors.invalidRange();
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) throw S3Errors.invalidRange();
  return { start, end };
}

export class ObjectServer {
  readonly store: ObjectStore;

  constructor(private readonly opts: ObjectServerOptions) {
    this.store = new ObjectStore(opts.root);
  }

  async listen(): Promise<RunningObjectServer> {
    await this.store.init(this.opts.buckets);
    await this.store.sweep(ORPHAN_TMP_MS, ORPHAN_UPLOAD_MS);
    const sweeper = setInterval(() => void this.store.sweep(ORPHAN_TMP_MS, ORPHAN_UPLOAD_MS).catch(() => undefined), SWEEP_MS);
    sweeper.unref();
    const server = createServer((req, res) => void this.handle(req, res));
    // Answer Expect: 100-continue requests like any other: the body is asked for (writeContinue) only once the
    // request is authenticated and authorised, so a refused upload never sends its body.
    server.on('checkContinue', (req, res) => void this.handle(req, res));
    // Large uploads may take long (no overall request timeout), but a connection that stops sending or reading is
    // dropped, which also discards a half-received body's temp file.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.setTimeout(120_000);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return {
      url: `http://${host}:${addr.port}`,
      server,
      store: this.store,
      close: async () => {
        clearInterval(sweeper);
        server.closeIdleConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('server', 'Shoal');
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const rawPath = qi >= 0 ? url.slice(0, qi) : url;
    try {
      const query = parseQuery(qi >= 0 ? url.slice(qi + 1) : '');
      const principal = await authenticate(req, rawPath, query, this.opts.auth);
      await this.route(req, res, principal, rawPath, query);
    } catch (err) {
      this.fail(req, res, err, rawPath, requestId);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown, resource: string, requestId: string): void {
    let e: S3Error;
    if (err instanceof S3Error) e = err;
    else {
      e = S3Errors.internal();
      this.opts.log(`[objects] ${req.method} ${resource} failed: ${(err as Error)?.stack ?? String(err)}`);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A body we did not read would otherwise be parsed as the next request.
    if (!req.complete) res.setHeader('connection', 'close');
    res.statusCode = e.status;
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = errorXml(e.code, e.message, decodeURIComponentSafe(resource), requestId);
    res.setHeader('content-type', 'application/xml');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
  }

  private async route(req: IncomingMessage, res: ServerResponse, p: Principal, rawPath: string, query: Record<string, string | string[]>): Promise<void> {
    for (const k of Object.keys(query)) {
      if (!KNOWN_QUERY.has(k) && !k.startsWith('response-') && !k.startsWith('X-Amz-')) throw S3Errors.notImplemented(`The ?${k} sub-resource`);
    }
    const method = req.method ?? 'GET';
    const rest = rawPath.replace(/^\//, '');
    const slash = rest.indexOf('/');
    const bucket = decodePath(slash < 0 ? rest : rest.slice(0, slash));
    const key = slash < 0 ? '' : decodePath(rest.slice(slash + 1));
    if (bucket === '') {
      if (method !== 'GET') throw S3Errors.methodNotAllowed();
      authorize(p, 'ListBuckets', '');
      return this.listBuckets(res);
    }
    if (!validBucketName(bucket)) throw S3Errors.invalidBucketName();
    if (key === '') return this.bucketOp(req, res, p, method, bucket, query);
    validateKey(key);
    return this.objectOp(req, res, p, method, bucket, key, query);
  }

  private send(res: ServerResponse, status: number, xml?: string): void {
    res.statusCode = status;
    if (xml === undefined) {
      res.setHeader('content-length', 0);
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/xml');
    res.setHeader('content-length', Buffer.byteLength(xml));
    res.end(xml);
  }

  private async listBuckets(res: ServerResponse): Promise<void> {
    const buckets = await this.store.listBuckets();
    const owner = `<Owner>${el('ID', 'shoal')}${el('DisplayName', 'shoal')}</Owner>`;
    const items = buckets.map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', b.created.toISOString())}</Bucket>`).join('');
    this.send(res, 200, doc('ListAllMyBucketsResult', `${owner}<Buckets>${items}</Buckets>`));
  }

  private async bucketOp(req: IncomingMessage, res: ServerResponse, p: Principal, method: string, bucket: string, query: Record<string, string | string[]>): Promise<void> {
    if (method === 'GET' && query.location !== undefined) {
      authorize(p, 'HeadBucket', bucket);
      await this.store.requireBucket(bucket);
      // S3 answers an empty constraint for us-east-1.
      return this.send(res, 200, doc('LocationConstraint', esc(this.opts.region === 'us-east-1' ? '' : this.opts.region)));
    }
    if (method === 'GET' && query.uploads !== undefined) throw S3Errors.notImplemented('ListMultipartUploads');
    if (method === 'GET') return this.listObjects(res, p, bucket, query);
    if (method === 'HEAD') {
      authorize(p, 'HeadBucket', bucket);
      await this.store.requireBucket(bucket);
      res.setHeader('x-amz-bucket-region', this.opts.region);
      return this.send(res, 200);
    }
    if (method === 'PUT') {
      authorize(p, 'CreateBucket', bucket);
      await readSmallBody(req, res, 64 * 1024);
      await this.store.createBucket(bucket);
      res.setHeader('location', `/${bucket}`);
      return this.send(res, 200);
    }
    if (method === 'DELETE') {
      authorize(p, 'DeleteBucket', bucket);
      await this.store.deleteBucket(bucket);
      return this.send(res, 204);
    }
    throw S3Errors.methodNotAllowed();
  }

  private async listObjects(res: ServerResponse, p: Principal, bucket: string, query: Record<string, string | string[]>): Promise<void> {
    const v2 = q1(query, 'list-type') === '2';
    const prefix = q1(query, 'prefix') ?? '';
    authorize(p, 'ListObjects', bucket, prefix);
    const delimiter = q1(query, 'delimiter') ?? '';
    const maxRaw = q1(query, 'max-keys');
    if (maxRaw !== undefined && !/^\d+$/.test(maxRaw)) throw S3Errors.invalidArgument('max-keys must be a non-negative integer');
    const maxKeys = Math.min(1000, maxRaw === undefined ? 1000 : Number(maxRaw));
    const urlEncode = q1(query, 'encoding-type') === 'url';
    const enc = (s: string) => (urlEncode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    const token = q1(query, 'continuation-token');
    let after = v2 ? (q1(query, 'start-after') ?? '') : (q1(query, 'marker') ?? '');
    if (v2 && token !== undefined) {
      after = Buffer.from(token, 'base64url').toString('utf8');
    }
    const all = await this.store.keys(bucket, prefix);
    const contents: string[] = [];
    const prefixes: string[] = [];
    let last = '';
    let truncated = false;
    let count = 0;
    for (const key of all) {
      if (after && Buffer.compare(Buffer.from(key), Buffer.from(after)) <= 0) continue;
      let common: string | undefined;
      if (delimiter) {
        const i = key.indexOf(delimiter, prefix.length);
        if (i >= 0) common = key.slice(0, i + delimiter.length);
      }
      if (common !== undefined && after.startsWith(common)) continue;
      if (common !== undefined && prefixes[prefixes.length - 1] === common) continue;
      if (count >= maxKeys) {
        truncated = true;
        break;
      }
      count++;
      if (common !== undefined) {
        prefixes.push(common);
        last = common;
        // Every key of this common prefix sorts before its successor: skip them by moving `after` past them.
        after = `${common}\u{10FFFF}`;
      } else {
        const meta = await this.store.stat(bucket, key);
        if (!meta) {
          count--;
          continue;
        }
        last = key;
        contents.push(
          `<Contents>${el('Key', enc(key))}${el('LastModified', new Date(meta.lastModified).toISOString())}${el('ETag', `"${meta.etag}"`)}${el('Size', meta.size)}${el('StorageClass', 'STANDARD')}</Contents>`,
        );
      }
    }
    const parts = [
      el('Name', bucket),
      el('Prefix', enc(prefix)),
      ...(delimiter ? [el('Delimiter', enc(delimiter))] : []),
      el('MaxKeys', maxKeys),
      ...(urlEncode ? [el('EncodingType', 'url')] : []),
      el('IsTruncated', truncated),
    ];
    if (v2) {
      parts.push(el('KeyCount', count));
      if (token !== undefined) parts.push(el('ContinuationToken', token));
      if (q1(query, 'start-after') !== undefined) parts.push(el('StartAfter', enc(q1(query, 'start-after')!)));
      if (truncated) parts.push(el('NextContinuationToken', Buffer.from(last).toString('base64url')));
    } else {
      parts.push(el('Marker', enc(q1(query, 'marker') ?? '')));
      if (truncated && delimiter) parts.push(el('NextMarker', enc(last)));
    }
    const common = prefixes.map((c) => `<CommonPrefixes>${el('Prefix', enc(c))}</CommonPrefixes>`).join('');
    this.send(res, 200, doc('ListBucketResult', parts.join('') + contents.join('') + common));
  }

  private async objectOp(req: IncomingMessage, res: ServerResponse, p: Principal, method: string, bucket: string, key: string, query: Record<string, string | string[]>): Promise<void> {
    const uploadId = q1(query, 'uploadId');
    const max = this.opts.maxObjectBytes;
    if (method === 'PUT') {
      authorize(p, 'PutObject', bucket, key);
      const copySource = req.headers['x-amz-copy-source'];
      if (copySource !== undefined && uploadId !== undefined) throw S3Errors.notImplemented('UploadPartCopy');
      if (copySource !== undefined) {
        const src = parseCopySource(String(copySource));
        authorize(p, 'GetObject', src.bucket, src.key);
        await readSmallBody(req, res, 64 * 1024);
        const requestMeta = { contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'), userMeta: userMeta(req) };
        const meta = await copyObject(this.store, req, src, { bucket, key }, requestMeta);
        return this.send(res, 200, doc('CopyObjectResult', el('LastModified', new Date(meta.lastModified).toISOString()) + el('ETag', `"${meta.etag}"`)));
      }
      if (uploadId !== undefined) {
        const pn = q1(query, 'partNumber') ?? '';
        if (!/^\d+$/.test(pn) || Number(pn) < 1 || Number(pn) > MAX_PARTS) throw S3Errors.invalidArgument(`Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`);
        const etag = await this.store.uploadPart(uploadId, bucket, key, Number(pn), (sink) => receiveBody(req, res, sink, max));
        res.setHeader('etag', `"${etag}"`);
        return this.send(res, 200);
      }
      const meta = await this.store.put(bucket, key, { key, contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'), userMeta: userMeta(req) }, (sink) =>
        receiveBody(req, res, sink, max),
      );
      res.setHeader('etag', `"${meta.etag}"`);
      if (req.headers['x-amz-checksum-crc32'] !== undefined || req.headers['x-amz-trailer'] !== undefined) res.setHeader('x-amz-checksum-crc32', meta.crc32);
      return this.send(res, 200);
    }
    if (method === 'POST' && query.uploads !== undefined) {
      authorize(p, 'PutObject', bucket, key);
      const id = await this.store.createUpload(bucket, key, String(req.headers['content-type'] ?? 'binary/octet-stream'), userMeta(req));
      return this.send(res, 200, doc('InitiateMultipartUploadResult', el('Bucket', bucket) + el('Key', key) + el('UploadId', id)));
    }
    if (method === 'POST' && uploadId !== undefined) {
      authorize(p, 'PutObject', bucket, key);
      const parts = parseCompleteParts((await readSmallBody(req, res, 1024 * 1024)).toString('utf8'));
      if (!parts) throw S3Errors.malformedXml();
      const meta = await this.store.completeUpload(uploadId, bucket, key, parts, max);
      return this.send(res, 200, doc('CompleteMultipartUploadResult', el('Location', `/${bucket}/${key}`) + el('Bucket', bucket) + el('Key', key) + el('ETag', `"${meta.etag}"`)));
    }
    if (method === 'DELETE' && uploadId !== undefined) {
      authorize(p, 'PutObject', bucket, key);
      await this.store.abortUpload(uploadId, bucket, key);
      return this.send(res, 204);
    }
    if (method === 'DELETE') {
      authorize(p, 'DeleteObject', bucket, key);
      await this.store.delete(bucket, key);
      return this.send(res, 204);
    }
    if (method === 'GET' || method === 'HEAD') {
      authorize(p, 'GetObject', bucket, key);
      if (uploadId !== undefined || query.partNumber !== undefined) throw S3Errors.notImplemented('ListParts / GetObject by part number');
      const { handle, meta } = await this.store.open(bucket, key);
      let range: { start: number; end: number } | undefined;
      try {
        range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, meta.size);
      } catch (err) {
        await handle.close();
        res.setHeader('content-range', `bytes */${meta.size}`);
        throw err;
      }
      objectHeaders(res, meta);
      if (!range && /enabled/i.test(String(req.headers['x-amz-checksum-mode'] ?? ''))) res.setHeader('x-amz-checksum-crc32', meta.crc32);
      const start = range?.start ?? 0;
      const end = range?.end ?? meta.size - 1;
      res.statusCode = range ? 206 : 200;
      if (range) res.setHeader('content-range', `bytes ${start}-${end}/${meta.size}`);
      res.setHeader('content-length', meta.size === 0 ? 0 : end - start + 1);
      if (method === 'HEAD' || meta.size === 0) {
        await handle.close();
        res.end();
        return;
      }
      const rs = handle.createReadStream({ start, end, autoClose: true });
      await pipeline(rs, res).catch(() => undefined);
      return;
    }
    throw S3Errors.methodNotAllowed();
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
