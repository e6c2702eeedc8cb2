import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { RUNNER_AUTH_HEADER } from '@shoal/contracts';

/** Accepts `X-Daytona-Authorization: Bearer <t>` (preferred) or `Authorization: Bearer <t>`. */
export function isAuthorized(headers: IncomingHttpHeaders, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  for (const name of [RUNNER_AUTH_HEADER, 'authorization']) {
    const v = headers[name];
    if (typeof v !== 'string') continue;
    const got = Buffer.from(v.trim());
    if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
  }
  return false;
}
