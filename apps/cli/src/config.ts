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
  });
}
