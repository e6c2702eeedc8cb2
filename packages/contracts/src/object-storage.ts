import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * Temporary object-storage credentials (GET /api/object-storage/push-access) without shared state: every API replica
 * mints them and every embedded S3 replica verifies them from one key, derived from the platform secret.
 *
 *   key          = HMAC-SHA256(platformSecret, "shoal/s3/session-key/v1")        (hex; SHOAL_S3_TOKEN_KEY)
 *   accessKey    = "SHOALT" + 14 random base32 characters                          (20 characters, like AWS keys)
 *   sessionToken = base64url(JSON {v, ak, org, bucket, prefix, exp}) + "." + base64url(HMAC(key, "token\n" + payload))
 *   secret       = base64url(HMAC(key, "secret\n" + accessKey + "\n" + sessionToken))
 *
 * The server checks the token's MAC, that the token names the request's access key, that it has not expired, then
 * verifies the request's SigV4 signature with the secret it recomputes. The token confines the holder to
 * `<bucket>/<prefix>` (the organization's `<organizationId>/`). Nothing is stored, so credentials cannot be revoked
 * before they expire (1 h): rotating the platform secret revokes all of them.
 */

export const SESSION_ACCESS_KEY_PREFIX = 'SHOALT';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export interface SessionClaims {
  accessKey: string;
  organizationId: string;
  bucket: string;
  /** Every key the holder may touch starts with this (`<organizationId>/`). */
  prefix: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface SessionCredentials {
  accessKey: string;
  secret: string;
  sessionToken: string;
  claims: SessionClaims;
}

/** The key temporary credentials are minted and verified with; the S3 server gets this, never the platform secret. */
export function objectStorageSessionKey(platformSecret: string): string {
  return createHmac('sha256', platformSecret).update('shoal/s3/session-key/v1').digest('hex');
}

/** The embedded S3 server's full-access service credential, stable across restarts of one platform. */
export function objectStorageServiceCredentials(platformSecret: string): { accessKey: string; secret: string } {
  const mac = createHmac('sha256', platformSecret).update('shoal/s3/service/v1').digest();
  return { accessKey: `SHOALSVC${base32(mac.subarray(0, 8)).slice(0, 12)}`, secret: mac.subarray(8).toString('base64url') };
}

function base32(buf: Buffer): string {
  let out = '';
  for (const b of buf) out += BASE32[b & 31]! + BASE32[(b >> 3) & 31]!;
  return out;
}

function mac(key: string, label: string, value: string): string {
  return createHmac('sha256', key).update(`${label}\n${value}`).digest('base64url');
}

export function sessionSecret(key: string, accessKey: string, sessionToken: string): string {
  return mac(key, 'secret', `${accessKey}\n${sessionToken}`);
}

export function mintSessionCredentials(
  key: string,
  opts: { organizationId: string; bucket: string; ttlSeconds: number; now?: number },
): SessionCredentials {
  const accessKey = SESSION_ACCESS_KEY_PREFIX + base32(randomBytes(7));
  const claims: SessionClaims = {
    accessKey,
    organizationId: opts.organizationId,
    bucket: opts.bucket,
    prefix: `${opts.organizationId}/`,
    expiresAt: Math.floor((opts.now ?? Date.now()) / 1000) + opts.ttlSeconds,
  };
  const payload = Buffer.from(
    JSON.stringify({ v: 1, ak: claims.accessKey, org: claims.organizationId, bucket: claims.bucket, prefix: claims.prefix, exp: claims.expiresAt }),
  ).toString('base64url');
  const sessionToken = `${payload}.${mac(key, 'token', payload)}`;
  return { accessKey, secret: sessionSecret(key, accessKey, sessionToken), sessionToken, claims };
}

/** Why a session token is refused; the S3 server answers AccessDenied (or ExpiredToken) either way. */
export type SessionTokenProblem = 'malformed' | 'bad-mac' | 'wrong-access-key' | 'expired';

/** The token's claims when it is genuine, names `accessKey` and is unexpired; otherwise the reason it is not. */
export function verifySessionToken(key: string, accessKey: string, token: string, now = Date.now()): SessionClaims | SessionTokenProblem {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 4096) return 'malformed';
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(mac(key, 'token', payload));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-mac';
  let raw: { v?: unknown; ak?: unknown; org?: unknown; bucket?: unknown; prefix?: unknown; exp?: unknown };
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof raw;
  } catch {
    return 'malformed';
  }
  if (raw.v !== 1 || typeof raw.ak !== 'string' || typeof raw.org !== 'string' || typeof raw.bucket !== 'string' || typeof raw.prefix !== 'string' || typeof raw.exp !== 'number') {
    return 'malformed';
  }
  if (raw.ak !== accessKey) return 'wrong-access-key';
  if (raw.exp * 1000 <= now) return 'expired';
  return { accessKey: raw.ak, organizationId: raw.org, bucket: raw.bucket, prefix: raw.prefix, expiresAt: raw.exp };
}
