import { createHash, createHmac } from 'node:crypto';

/** SHA-256 of a runner token, as the API stores it: a database dump must not yield a credential. */
export function runnerTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The credential the API presents when it calls a runner. Derived from the platform secret (configuration given to
 * every API replica, never stored in the database) and the stored hash of the runner's own token, so neither the
 * database alone nor the runner token alone yields it. The runner is configured with it (SHOAL_RUNNER_CALL_TOKEN).
 */
export function runnerCallToken(platformSecret: string, tokenHash: string): string {
  return createHmac('sha256', platformSecret).update(`shoal-runner-call:${tokenHash}`).digest('hex');
}
