import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { SESSION_ACCESS_KEY_PREFIX, sessionSecret, verifySessionToken, type SessionClaims } from '@shoal/contracts';
import { S3Errors } from './errors.js';

/** Who signed a request: the full-access service credential, or a temporary credential confined to one prefix. */
export type Principal = { kind: 'service' } | { kind: 'session'; claims: SessionClaims };

export interface AuthConfig {
  serviceAccessKey: string;
  serviceSecretKey: string;
  /** Verifies temporary credentials (contracts object-storage.ts); without it only the service credential works. */
  sessionKey: string | undefined;
  /** How far a request's x-amz-date may be from the server's clock (S3 allows 15 minutes). */
  maxSkewMs: number;
}

/** SHA-256 / HMAC-SHA256 for the signer, from node:crypto. */
class NodeSha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: string | Uint8Array | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | Uint8Array | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
  reset(): void {}
}

function toBuffer(d: string | Uint8Array | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (d instanceof ArrayBuffer) return Buffer.from(d);
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

interface ParsedAuthorization {
  accessKey: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(header.trim());
  if (!m) {
    if (/^AWS\s/.test(header)) throw S3Errors.invalidRequest('Signature version 2 is not supported; sign requests with AWS Signature Version 4');
    throw S3Errors.authorizationHeaderMalformed('The authorization header is malformed; expected AWS4-HMAC-SHA256.');
  }
  const fields = new Map<string, string>();
  for (const part of m[1]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential')?.split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || credential.length !== 5 || credential[4] !== 'aws4_request' || !signedHeaders || !signature || !/^[0-9a-f]{64}$/.test(signature)) {
    throw S3Errors.authorizationHeaderMalformed('The authorization header is malformed.');
  }
  return {
    accessKey: credential[0]!,
    date: credential[1]!,
    region: credential[2]!,
    service: credential[3]!,
    signedHeaders: signedHeaders.split(';').map((h) => h.toLowerCase()),
    signature,
  };
}

/** Query parameters as SigV4 canonicalises them: names and values percent-decoded once, repeated names kept. */
export function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (const pair of raw.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(eq >= 0 ? pair.slice(0, eq) : pair);
      v = decodeURIComponent(eq >= 0 ? pair.slice(eq + 1) : '');
    } catch {
      throw S3Errors.invalidArgument('Malformed query string');
    }
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** `20261201T142633Z` as a Date, or undefined. */
function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * Verifies a request's SigV4 Authorization header by recomputing the signature with @smithy/signature-v4 (the signer
 * the AWS SDK itself uses) over exactly the headers the client listed as signed, the raw path (S3 does not
 * double-encode it) and the query; compares in constant time. The payload hash is the client's x-amz-content-sha256,
 * which the body reader checks against the bytes actually received.
 */
export async function authenticate(req: IncomingMessage, rawPath: string, query: Record<string, string | string[]>, cfg: AuthConfig, now = Date.now()): Promise<Principal> {
  const authz = header(req, 'authorization');
  if (!authz) {
    if (query['X-Amz-Signature'] !== undefined) throw S3Errors.accessDenied('Presigned URLs are not supported by Shoal\'s object storage');
    throw S3Errors.accessDenied('Anonymous access is not allowed');
  }
  const a = parseAuthorization(authz);
  if (a.service !== 's3') throw S3Errors.authorizationHeaderMalformed(`The credential scope names service ${a.service}; expected s3.`);
  const amzDate = header(req, 'x-amz-date');
  const signingDate = amzDate ? parseAmzDate(amzDate) : undefined;
  if (!signingDate || !a.signedHeaders.includes('x-amz-date') || !a.signedHeaders.includes('host')) throw S3Errors.missingSecurityHeader();
  if (amzDate!.slice(0, 8) !== a.date) throw S3Errors.authorizationHeaderMalformed('The credential scope date does not match x-amz-date.');
  if (Math.abs(signingDate.getTime() - now) > cfg.maxSkewMs) throw S3Errors.requestTimeTooSkewed();
  const contentSha = header(req, 'x-amz-content-sha256');
  if (!contentSha || !a.signedHeaders.includes('x-amz-content-sha256')) throw S3Errors.missingSecurityHeader();

  let principal: Principal;
  let secret: string;
  if (a.accessKey === cfg.serviceAccessKey) {
    principal = { kind: 'service' };
    secret = cfg.serviceSecretKey;
  } else if (a.accessKey.startsWith(SESSION_ACCESS_KEY_PREFIX) && cfg.sessionKey) {
    const token = header(req, 'x-amz-security-token');
    if (!token || !a.signedHeaders.includes('x-amz-security-token')) throw S3Errors.accessDenied('Temporary credentials need a signed x-amz-security-token');
    const claims = verifySessionToken(cfg.sessionKey, a.accessKey, token, now);
    if (claims === 'expired') throw S3Errors.expiredToken();
    if (typeof claims === 'string') throw S3Errors.accessDenied('The security token included in the request is invalid');
    principal = { kind: 'session', claims };
    secret = sessionSecret(cfg.sessionKey, a.accessKey, token);
  } else {
    throw S3Errors.invalidAccessKeyId();
  }

  const headers: Record<string, string> = {};
  for (const name of a.signedHeaders) {
    const v = header(req, name);
    if (v === undefined) throw S3Errors.signatureDoesNotMatch();
    headers[name] = v;
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: a.accessKey, secretAccessKey: secret },
    region: a.region,
    service: 's3',
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method ?? 'GET', protocol: 'http:', hostname: 'unused', path: rawPath, query, headers },
    { signingDate, signableHeaders: new Set(a.signedHeaders), signingRegion: a.region },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1] ?? '';
  const ok = expected.length === 64 && timingSafeEqual(Buffer.from(expected), Buffer.from(a.signature));
  if (!ok) throw S3Errors.signatureDoesNotMatch();
  return principal;
}
