/** What the gateway reads from its environment, validated once. */
export interface GatewayConfig {
  host: string;
  /** 0: any free port (tests); the listening port is printed and returned by startGateway. */
  port: number;
  /** The host key lives here (`ssh_host_ed25519_key`, 0600), generated on the first start. */
  dataDir: string;
  /** The API's base URL without `/api`, e.g. http://127.0.0.1:3000. */
  apiUrl: string;
  /** The gateway's service credential (the API's SHOAL_SSH_GATEWAY_TOKEN). */
  token: string;
  /** Failed logins one source address may make per window before it is refused without asking the API. */
  maxFailures: number;
  failureWindowMs: number;
}

type Env = Record<string, string | undefined>;

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const errors: string[] = [];
  const int = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) errors.push(`${name} must be an integer >= ${min}`);
    return n;
  };
  const port = int('SHOAL_SSH_PORT', 2222, 0);
  if (port > 65535) errors.push('SHOAL_SSH_PORT must be <= 65535');
  const token = env.SHOAL_SSH_GATEWAY_TOKEN ?? '';
  if (token.length < 32) errors.push('SHOAL_SSH_GATEWAY_TOKEN is required (at least 32 characters; the API holds the same value)');
  const apiUrl = (env.SHOAL_API_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '').replace(/\/api$/, '');
  if (!/^https?:\/\/[^/]+$/.test(apiUrl)) errors.push('SHOAL_API_URL must be an http(s):// base URL');
  const dataDir = env.SHOAL_SSH_DATA_DIR ?? '';
  if (!dataDir) errors.push('SHOAL_SSH_DATA_DIR is required (the host key is kept there)');
  const config: GatewayConfig = {
    host: env.SHOAL_SSH_HOST || '127.0.0.1',
    port,
    dataDir,
    apiUrl,
    token,
    maxFailures: int('SHOAL_SSH_MAX_FAILURES', 10, 1),
    failureWindowMs: int('SHOAL_SSH_FAILURE_WINDOW_MS', 60_000, 1000),
  };
  if (errors.length) throw new Error(`Invalid configuration:\n  - ${errors.join('\n  - ')}`);
  return config;
}
