import { resolve } from 'node:path';

export interface CliConfig {
  readonly dataDir: string;
  readonly apiUrl: string | undefined;
  readonly apiKey: string | undefined;
  /** `shoal up`: leave sandboxes running on exit, to be re-adopted at the next start (SHOAL_KEEP_SANDBOXES=1). */
  readonly keepSandboxes: boolean;
  /** `shoal up`: where runners keep the default image's root filesystem tarball between starts (tests set it). */
  readonly imageCacheDir: string | undefined;
  /** SHOAL_SSH_PORT: the SSH gateway's port for `shoal up` (else 2222 when free). */
  readonly sshPort: number | undefined;
  /** SHOAL_OTLP_ENDPOINT: `shoal up` has the API and runners export traces to this OTLP/HTTP collector. */
  readonly otlpEndpoint: string | undefined;
  /** `shoal open`: a graphical session to open a browser in (DISPLAY or WAYLAND_DISPLAY is set). */
  readonly desktop: boolean;
  /**
   * `shoal up` hands these to the API process as they are: OIDC login, audit, webhook, metrics, warm pool and
   * credential cache settings (SHOAL_OIDC_*, SHOAL_AUDIT_*, SHOAL_WEBHOOK_*, SHOAL_METRICS*, SHOAL_WARM_POOL_*,
   * SHOAL_CREDENTIAL_CACHE_*). The API validates them and refuses to start on bad ones.
   */
  readonly apiSettings: Readonly<Record<string, string>>;
}

/** Prefixes of the API settings an operator may set for `shoal up` (README "Configuration"). */
export const API_SETTING_PREFIXES = ['SHOAL_OIDC_', 'SHOAL_AUDIT_', 'SHOAL_WEBHOOK_', 'SHOAL_METRICS', 'SHOAL_WARM_POOL_', 'SHOAL_CREDENTIAL_CACHE_'] as const;

function apiSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && API_SETTING_PREFIXES.some((p) => k.startsWith(p))) out[k] = v;
  }
  return out;
}

const repoRoot = resolve(new URL('../../..', import.meta.url).pathname);

/** The CLI's environment, read once. `--data-dir` on a command wins over SHOAL_DATA_DIR. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  return Object.freeze({
    dataDir: resolve(env.SHOAL_DATA_DIR ?? `${repoRoot}/.shoal`),
    apiUrl: env.DAYTONA_API_URL || undefined,
    apiKey: env.DAYTONA_API_KEY || undefined,
    keepSandboxes: ['1', 'true', 'yes'].includes((env.SHOAL_KEEP_SANDBOXES ?? '').toLowerCase()),
    imageCacheDir: env.SHOAL_IMAGE_CACHE_DIR || undefined,
    sshPort: env.SHOAL_SSH_PORT ? Number(env.SHOAL_SSH_PORT) : undefined,
    otlpEndpoint: env.SHOAL_OTLP_ENDPOINT || undefined,
    desktop: Boolean(env.DISPLAY || env.WAYLAND_DISPLAY),
    apiSettings: Object.freeze(apiSettings(env)),
  });
}
