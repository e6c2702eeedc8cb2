/** Settings of Shoal's webhook delivery (README "Webhooks"), part of ApiConfig as `webhooks`. */
export interface WebhookConfig {
  /** Allow endpoints on loopback, private, link-local and metadata addresses (SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS). */
  allowPrivateTargets: boolean;
  /** One attempt's bound: connect, headers and body (SHOAL_WEBHOOK_TIMEOUT_MS, default 10 s). */
  timeoutMs: number;
  /** Delay before the first retry; each next one is 4 times longer, capped at 10 h (SHOAL_WEBHOOK_RETRY_BASE_MS). */
  retryBaseMs: number;
  /** Attempts of one message to one endpoint before it is marked failed (SHOAL_WEBHOOK_MAX_ATTEMPTS, default 10). */
  maxAttempts: number;
  /** Deliveries in flight per API process (one per endpoint at a time). */
  concurrency: number;
  /** Messages (with their deliveries and attempts) older than this are deleted (SHOAL_WEBHOOK_RETENTION_DAYS). */
  retentionDays: number;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, errors: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    errors.push(`${name} must be an integer >= ${min} (got "${raw}")`);
    return fallback;
  }
  return n;
}

export function loadWebhookConfig(env: Env, errors: string[]): WebhookConfig {
  const allow = env.SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS ?? '';
  if (!['', 'true', 'false', '1', '0'].includes(allow)) errors.push('SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS must be true or false');
  return {
    allowPrivateTargets: allow === 'true' || allow === '1',
    timeoutMs: int(env, 'SHOAL_WEBHOOK_TIMEOUT_MS', 10_000, 100, errors),
    retryBaseMs: int(env, 'SHOAL_WEBHOOK_RETRY_BASE_MS', 5_000, 10, errors),
    maxAttempts: int(env, 'SHOAL_WEBHOOK_MAX_ATTEMPTS', 10, 1, errors),
    concurrency: int(env, 'SHOAL_WEBHOOK_CONCURRENCY', 16, 1, errors),
    retentionDays: int(env, 'SHOAL_WEBHOOK_RETENTION_DAYS', 30, 1, errors),
  };
}

const MAX_DELAY_MS = 10 * 3600_000;

/**
 * Wait before attempt `next` (2 = first retry): base, 4x base, 16x base, ... capped at 10 h. With the default 5 s base
 * and 10 attempts: 5 s, 20 s, 80 s, 5.3 min, 21 min, 85 min, 5.7 h, 10 h, 10 h (about 28 h in all).
 */
export function retryDelayMs(cfg: Pick<WebhookConfig, 'retryBaseMs'>, next: number): number {
  return Math.min(cfg.retryBaseMs * 4 ** Math.max(0, next - 2), MAX_DELAY_MS);
}
