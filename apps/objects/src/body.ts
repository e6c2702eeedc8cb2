import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { S3Error, S3Errors } from './errors.js';

export interface ReceivedBody {
  size: number;
  md5Hex: string;
  /** Base64 of the big-endian CRC32, as x-amz-checksum-crc32 carries it. */
  crc32: string;
}

const UNSIGNED = 'UNSIGNED-PAYLOAD';
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const MAX_CHUNK_LINE = 4096;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function crcBase64(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
}

/**
 * Decodes `Content-Encoding: aws-chunked` (what the AWS SDK sends for streams of unknown hash:
 * `<hex size>[;ext]\r\n<data>\r\n … 0\r\n<trailer>: <value>\r\n\r\n`), passing data on as it arrives, never holding
 * a whole chunk. Trailers are collected into `trailers`.
 */
async function* decodeAwsChunked(source: AsyncIterable<Buffer>, trailers: Map<string, string>): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let remaining = -1; // data bytes left in the current chunk; -1: expecting a size line
  let needCrlf = false;
  let inTrailers = false;
  let done = false;
  for await (const chunk of source) {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (done) {
        if (buf.length > 0) throw S3Errors.invalidRequest('Data after the end of an aws-chunked body');
        break;
      }
      if (needCrlf) {
        if (buf.length < 2) break;
        if (buf[0] !== 13 || buf[1] !== 10) throw S3Errors.invalidRequest('Malformed aws-chunked body');
        buf = buf.subarray(2);
        needCrlf = false;
        continue;
      }
      if (remaining > 0) {
        if (buf.length === 0) break;
        const take = Math.min(remaining, buf.length);
        yield buf.subarray(0, take);
        buf = buf.subarray(take);
        remaining -= take;
        if (remaining === 0) {
          remaining = -1;
          needCrlf = true;
        }
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) {
        if (buf.length > MAX_CHUNK_LINE) throw S3Errors.invalidRequest('Malformed aws-chunked body');
        break;
      }
      const line = buf.subarray(0, nl).toString('latin1');
      buf = buf.subarray(nl + 2);
      if (inTrailers) {
        if (line === '') {
          done = true;
          continue;
        }
        const colon = line.indexOf(':');
        if (colon <= 0) throw S3Errors.invalidRequest('Malformed aws-chunked trailer');
        trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        continue;
      }
      const sizeHex = line.split(';')[0]!.trim();
      if (/;\s*chunk-signature=/.test(line)) throw S3Errors.notImplemented('Signed aws-chunked payloads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)');
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeHex)) throw S3Errors.invalidRequest('Malformed aws-chunked body');
      const size = parseInt(sizeHex, 16);
      if (size === 0) inTrailers = true;
      else remaining = size;
    }
  }
  if (!done) throw S3Errors.incompleteBody();
}

/**
 * Streams a request body into `sink` (a temp file), never holding it in memory: decodes aws-chunked, enforces
 * `maxBytes`, and checks every integrity claim the client made (x-amz-content-sha256, Content-MD5,
 * x-amz-checksum-crc32/-sha256 as a header or a trailer, x-amz-decoded-content-length). Any mismatch is an S3Error
 * and the caller discards the temp file.
 */
export async function receiveBody(req: IncomingMessage, res: ServerResponse, sink: Writable, maxBytes: number): Promise<ReceivedBody> {
  const contentSha = header(req, 'x-amz-content-sha256') ?? UNSIGNED;
  const chunked = /(^|,)\s*aws-chunked\s*(,|$)/.test(header(req, 'content-encoding') ?? '');
  if (contentSha.startsWith('STREAMING-') && contentSha !== STREAMING_UNSIGNED_TRAILER) throw S3Errors.notImplemented(`x-amz-content-sha256: ${contentSha}`);
  if (contentSha === STREAMING_UNSIGNED_TRAILER && !chunked) throw S3Errors.invalidRequest('STREAMING-UNSIGNED-PAYLOAD-TRAILER needs Content-Encoding: aws-chunked');
  if (contentSha !== UNSIGNED && !contentSha.startsWith('STREAMING-') && !/^[0-9a-f]{64}$/.test(contentSha)) throw S3Errors.invalidArgument('x-amz-content-sha256 must be a SHA-256 hex digest, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER');
  const declared = chunked ? header(req, 'x-amz-decoded-content-length') : header(req, 'content-length');
  if (declared === undefined && !chunked) throw S3Errors.missingContentLength();
  if (declared !== undefined && (!/^\d+$/.test(declared) || Number(declared) > maxBytes)) throw S3Errors.entityTooLarge(maxBytes);

  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let crc = 0;
  let size = 0;
  const trailers = new Map<string, string>();
  // The client waits for this before sending a body it announced with Expect: 100-continue.
  if (/100-continue/i.test(header(req, 'expect') ?? '')) res.writeContinue();
  const source: AsyncIterable<Buffer> = chunked ? decodeAwsChunked(req, trailers) : req;
  let aborted = false;
  req.once('aborted', () => (aborted = true));
  try {
    await pipeline(
      source,
      async function* (data: AsyncIterable<Buffer>) {
        for await (const chunk of data) {
          size += chunk.length;
          if (size > maxBytes) throw S3Errors.entityTooLarge(maxBytes);
          sha256.update(chunk);
          md5.update(chunk);
          crc = crc32(chunk, crc);
          yield chunk;
        }
      },
      sink,
    );
  } catch (err) {
    if (err instanceof S3Error) throw err;
    if (aborted || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET') throw S3Errors.incompleteBody();
    throw err;
  }
  if (aborted || !req.complete) throw S3Errors.incompleteBody();
  if (declared !== undefined && Number(declared) !== size) throw S3Errors.incompleteBody();
  const sha256Hex = sha256.digest('hex');
  const md5Buf = md5.digest();
  if (/^[0-9a-f]{64}$/.test(contentSha) && contentSha !== sha256Hex) throw S3Errors.contentSha256Mismatch();
  const contentMd5 = header(req, 'content-md5');
  if (contentMd5 !== undefined && contentMd5 !== md5Buf.toString('base64')) throw S3Errors.badDigest('Content-MD5');
  const crcB64 = crcBase64(crc);
  const claimedCrc = header(req, 'x-amz-checksum-crc32') ?? trailers.get('x-amz-checksum-crc32');
  if (claimedCrc !== undefined && claimedCrc !== crcB64) throw S3Errors.badDigest('CRC32');
  const claimedSha = header(req, 'x-amz-checksum-sha256') ?? trailers.get('x-amz-checksum-sha256');
  if (claimedSha !== undefined && claimedSha !== Buffer.from(sha256Hex, 'hex').toString('base64')) throw S3Errors.badDigest('SHA256');
  return { size, md5Hex: md5Buf.toString('hex'), crc32: crcB64 };
}

/** A small request body (XML) read into memory, bounded. */
export async function readSmallBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer> {
  if (/100-continue/i.test(header(req, 'expect') ?? '')) res.writeContinue();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > maxBytes) throw S3Errors.malformedXml();
    chunks.push(c);
  }
  const body = Buffer.concat(chunks);
  const contentSha = header(req, 'x-amz-content-sha256');
  if (contentSha && /^[0-9a-f]{64}$/.test(contentSha) && createHash('sha256').update(body).digest('hex') !== contentSha) throw S3Errors.contentSha256Mismatch();
  return body;
}
