import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { RUNNER_AUTH_HEADER } from '@shoal/contracts';

/**
 * Accepts `X-Daytona-Authorization: Bearer <t>` (preferred) or `Authorization: Bearer <t>` where `<t>` is any of the
 * given tokens: the runner's own token (operator, platform) or the API's call credential.
 */
export function isAuthorized(headers: IncomingHttpHeaders, ...tokens: Array<string | undefined>): boolean {
  const expected = tokens.filter((t): t is string => !!t).map((t) => Buffer.from(`Bearer ${t}`));
  let ok = false;
  for (const name of [RUNNER_AUTH_HEADER, 'authorization']) {
    const v = headers[name];
    if (typeof v !== 'string') continue;
    const got = Buffer.from(v.trim());
    // Every candidate is compared, so the time taken does not tell which one matched.
    for (const e of expected) if (got.length === e.length && timingSafeEqual(got, e)) ok = true;
  }
  return ok;
}
