import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The short-lived credential of the endpoint portal: `<organizationId>.<expiry seconds>.<HMAC>` keyed by a key derived
 * from the platform secret, so any API replica verifies it without a session row. It only manages the webhook
 * endpoints of that one organization.
 */
export const PORTAL_TOKEN_TTL_SECONDS = 15 * 60;

function key(platformSecret: string): Buffer {
  return createHmac('sha256', platformSecret).update('shoal-webhook-portal-v1').digest();
}

function mac(platformSecret: string, payload: string): string {
  return createHmac('sha256', key(platformSecret)).update(payload).digest('base64url');
}

export function issuePortalToken(platformSecret: string, organizationId: string, now = Date.now()): { token: string; expiresAt: Date } {
  const exp = Math.floor(now / 1000) + PORTAL_TOKEN_TTL_SECONDS;
  const payload = `${organizationId}.${exp}`;
  return { token: `${payload}.${mac(platformSecret, payload)}`, expiresAt: new Date(exp * 1000) };
}

/** The organization the token was issued for, or undefined when it is forged, malformed or expired. */
export function verifyPortalToken(platformSecret: string, token: string | undefined, now = Date.now()): string | undefined {
  if (!token || token.length > 200) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [org, exp, sig] = parts as [string, string, string];
  const expected = Buffer.from(mac(platformSecret, `${org}.${exp}`));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  if (!/^\d+$/.test(exp) || Number(exp) * 1000 <= now) return undefined;
  return org;
}
