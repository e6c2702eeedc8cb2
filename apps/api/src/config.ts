import { isIP } from 'node:net';
import { loadAuditConfig, type AuditConfig } from './audit/config.js';
import { loadWebhookConfig, type WebhookConfig } from './webhooks/config.js';

/** Everything the API reads from its environment, validated once and frozen. */
export interface ApiConfig {
  databaseUrl: string;
  host: string;
  port: number;
  /** Base URL users see, without the `/api` suffix and without a trailing slash. */
  publicUrl: string;
  dataDir: string | undefined;
  defaultSnapshot: string;
  defaultSnapshotImage: string;
  /** Register Shoal's desktop snapshot (DESKTOP_SNAPSHOT, built by a runner on first use); `shoal up` turns it on. */
  desktopSnapshot?: boolean;
  previewDomain: string | undefined;
  adminApiKey: string | undefined;
  /**
   * Write `<dataDir>/credentials.json` when the first start creates the admin key (default true). The platform
   * supervisor turns it off: it publishes the file itself once the platform can serve create().
   */
  writeCredentials?: boolean;
  /**
   * Key of the credential the API derives for calling runners (contracts `runnerCallToken`); the same value on every
   * API replica. Unset: generated once in `<dataDir>/platform-secret` (mode 0600) by `startApi`.
   */
  platformSecret: string | undefined;
  reconcileIntervalMs: number;
  runnerHealthIntervalMs: number;
  /** How often auto-stop/archive/delete queries run. */
  autoTransitionIntervalMs: number;
  /** How long a reconciler claim on a sandbox lives before another API process may take it over. */
  claimLeaseMs: number;
  /** How long `POST /sandbox` and start wait for `started` before answering with the current state. */
  createWaitMs: number;
  /** Active snapshots unused this many days become inactive, as in the reference (14); 0 turns it off. */
  snapshotAutoDeactivateDays: number;
  /** A Dockerfile build running longer than this ends build_failed and is cancelled on its runner (any API replica). */
  buildTimeoutSeconds: number;
  maxAutoArchiveInterval: number;
  /** pino level of the API's own log (`info` logs every request). */
  logLevel: string;
  /** Open proxied requests/WebSockets per organization and API process (0: no cap); the next one gets 429. */
  proxyMaxStreamsPerOrg: number;
  /**
   * Sandboxes of all organizations waiting for a runner to start them, beyond which a create that the warm pool
   * cannot serve gets 429 with Retry-After (0: no cap). Counted in PostgreSQL, so it holds across API replicas.
   */
  maxPendingCreates: number;
  /** How long a resolved API key may be reused without a query (0: never); see auth/credential-cache.ts. */
  credentialCacheTtlMs: number;
  /** How long a sandbox row read for GET /sandbox/{id} or the proxy, or a runner row read for the proxy or a claim, may be reused (0: never); see services/row-cache.ts. */
  sandboxCacheTtlMs: number;
  /**
   * Started sandboxes kept ready for the default snapshot (SHOAL_WARM_POOL_SIZE), enforced at every start. Unset: a
   * pool of DEFAULT_WARM_POOL_SIZE is made when none exists, and a size set since through the admin API is kept.
   */
  warmPoolSize: number | undefined;
  /** How often pools are checked and topped up (a claim does not wake the keeper: see SandboxService.claimPooled). */
  warmPoolIntervalMs: number;
  /** Proxied traffic to runners: connect, headers and body-idle bounds (README "Configuration"). */
  proxyConnectTimeoutMs: number;
  proxyHeadersTimeoutMs: number;
  proxyIdleTimeoutMs: number;
  /** Idle bound of a proxied WebSocket (PTY, log follow) in both directions; 0: none. */
  proxyWsIdleTimeoutMs: number;
  version: string;
  /**
   * SSH gateway (apps/ssh-gateway): the service credential only the gateway holds, the one caller of validateSshAccess
   * (SHOAL_SSH_GATEWAY_TOKEN, at least 32 characters; unset: no caller can validate), and the host:port users connect
   * to, which createSshAccess names in sshCommand (SHOAL_SSH_GATEWAY_ADDRESS).
   */
  sshGateway: { token: string | undefined; address: string | undefined };
  /** host:port of Shoal's internal registry: SHOAL_REGISTRY_ADDRESS, else the host of the default snapshot image. */
  internalRegistry: string;
  /**
   * Key and certificate the API signs internal-registry tokens with (the registry trusts the certificate); both set
   * when the platform started the registry with token auth, unset for an external unauthenticated registry.
   */
  registryTokenKeyFile: string | undefined;
  registryTokenCertFile: string | undefined;
  /**
   * OIDC login (bearer JWTs of one issuer, README "OIDC login"): SHOAL_OIDC_ISSUER (issuer base URL; discovery at
   * `<issuer>/.well-known/openid-configuration`), SHOAL_OIDC_AUDIENCE (the `aud` tokens must carry), SHOAL_OIDC_CLIENT_ID
   * (what GET /config tells clients; default: the audience). Unset issuer: JWTs are not accepted.
   */
  oidc: { issuer: string; audience: string; clientId: string } | undefined;
  /** Object storage for build contexts (README "Object storage"). Unset url: push-access answers 503. */
  objectStorage: {
    /** Path-style S3 endpoint the API and runners use (SHOAL_S3_URL). */
    url: string | undefined;
    /** What push-access hands to SDK users as storageUrl (SHOAL_S3_PUBLIC_URL; default: url). */
    publicUrl: string | undefined;
    bucket: string;
    region: string;
    accessKey: string | undefined;
    secretKey: string | undefined;
    /**
     * How push-access answers: `session` mints temporary credentials scoped to the organization's prefix (only Shoal's
     * embedded server verifies them); `shared` hands out the configured credentials (operator opt-in, single-tenant
     * external S3 only); `none` refuses with 503.
     */
    pushAccess: 'session' | 'shared' | 'none';
    pushAccessTtlSeconds: number;
  };
  /**
   * Where volume data lives (SHOAL_VOLUME_DRIVER, read once at start; README "Volumes"): `local` (default) directories
   * on each runner host, `s3` objects under `volumes/<id>/` in the object storage bucket (needs SHOAL_S3_URL and keys).
   */
  volumeDriver: 'local' | 's3';
  /** Shoal's own webhook delivery (webhooks/config.ts). */
  webhooks: WebhookConfig;
  /** The audit log (audit/config.ts): retention and toolbox recording. */
  audit: AuditConfig;
  /** GET /metrics (README "Metrics"): SHOAL_METRICS=off hides it; SHOAL_METRICS_TOKEN makes it want that bearer token. */
  metrics: { enabled: boolean; token: string | undefined };
  /** OTLP/HTTP collector base URL (SHOAL_OTLP_ENDPOINT); unset: no traces and the OpenTelemetry SDK is never loaded. */
  otlpEndpoint: string | undefined;
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, errors: string[], min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    errors.push(`${name} must be an integer >= ${min} (got "${raw}")`);
    return fallback;
  }
  return n;
}

/** Parses the environment; every invalid variable is reported in one error. */
export function loadConfig(env: Env = process.env): Readonly<ApiConfig> {
  const errors: string[] = [];
  const databaseUrl = env.DATABASE_URL ?? '';
  if (!databaseUrl) errors.push('DATABASE_URL is required');
  else if (!/^postgres(ql)?:\/\//.test(databaseUrl)) errors.push('DATABASE_URL must be a postgres:// URL');

  const host = env.SHOAL_API_HOST || '127.0.0.1';
  const port = intVar(env, 'SHOAL_API_PORT', 3000, errors);
  if (port > 65535) errors.push('SHOAL_API_PORT must be <= 65535');

  const hostForUrl = isIP(host) === 6 ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  let publicUrl = (env.SHOAL_PUBLIC_URL || `http://${hostForUrl}:${port}`).replace(/\/+$/, '');
  if (publicUrl.endsWith('/api')) publicUrl = publicUrl.slice(0, -4);
  try {
    new URL(publicUrl);
  } catch {
    errors.push(`SHOAL_PUBLIC_URL is not a valid URL: "${env.SHOAL_PUBLIC_URL}"`);
  }

  const previewDomain = env.SHOAL_PREVIEW_DOMAIN || undefined;
  if (previewDomain && !/^[a-z0-9.-]+(:\d+)?$/i.test(previewDomain)) errors.push('SHOAL_PREVIEW_DOMAIN must be a host name');

  const adminApiKey = env.SHOAL_ADMIN_API_KEY || undefined;
  if (adminApiKey && !/^dtn_[0-9a-f]{64}$/.test(adminApiKey)) errors.push('SHOAL_ADMIN_API_KEY must be dtn_ followed by 64 lowercase hex characters');

  const platformSecret = env.SHOAL_PLATFORM_SECRET || undefined;
  if (platformSecret && platformSecret.length < 32) errors.push('SHOAL_PLATFORM_SECRET must be at least 32 characters');

  const s3Url = env.SHOAL_S3_URL ? env.SHOAL_S3_URL.replace(/\/+$/, '') : undefined;
  for (const name of ['SHOAL_S3_URL', 'SHOAL_S3_PUBLIC_URL'] as const) {
    if (env[name] && !/^https?:\/\/[^/]+/.test(env[name]!)) errors.push(`${name} must be an http(s):// URL`);
  }
  const pushAccess = (env.SHOAL_S3_PUSH_ACCESS || 'session') as ApiConfig['objectStorage']['pushAccess'];
  if (!['session', 'shared', 'none'].includes(pushAccess)) errors.push('SHOAL_S3_PUSH_ACCESS must be session, shared or none');
  if (pushAccess === 'shared' && (!env.SHOAL_S3_ACCESS_KEY || !env.SHOAL_S3_SECRET_KEY)) errors.push('SHOAL_S3_PUSH_ACCESS=shared needs SHOAL_S3_ACCESS_KEY and SHOAL_S3_SECRET_KEY');

  const oidcIssuer = env.SHOAL_OIDC_ISSUER ? env.SHOAL_OIDC_ISSUER.replace(/\/+$/, '') : undefined;
  if (oidcIssuer && !/^https?:\/\/[^/]+/.test(oidcIssuer)) errors.push('SHOAL_OIDC_ISSUER must be an http(s):// URL');
  if (oidcIssuer && !env.SHOAL_OIDC_AUDIENCE) errors.push('SHOAL_OIDC_ISSUER needs SHOAL_OIDC_AUDIENCE (the audience tokens are issued for)');
  if (!oidcIssuer && (env.SHOAL_OIDC_AUDIENCE || env.SHOAL_OIDC_CLIENT_ID)) errors.push('SHOAL_OIDC_AUDIENCE and SHOAL_OIDC_CLIENT_ID need SHOAL_OIDC_ISSUER');

  const config: ApiConfig = {
    databaseUrl,
    host,
    port,
    publicUrl,
    dataDir: env.SHOAL_DATA_DIR || undefined,
    defaultSnapshot: env.SHOAL_DEFAULT_SNAPSHOT || 'shoal/sandbox:0.1.0',
    defaultSnapshotImage: env.SHOAL_DEFAULT_SNAPSHOT_IMAGE || '127.0.0.1:5100/shoal/sandbox:0.1.0',
    desktopSnapshot: ['1', 'true', 'yes', 'on'].includes((env.SHOAL_DESKTOP_SNAPSHOT ?? '').toLowerCase()),
    previewDomain,
    adminApiKey,
    writeCredentials: env.SHOAL_WRITE_CREDENTIALS !== '0',
    platformSecret,
    reconcileIntervalMs: intVar(env, 'SHOAL_RECONCILE_INTERVAL_MS', 1000, errors, 50),
    runnerHealthIntervalMs: intVar(env, 'SHOAL_RUNNER_HEALTH_INTERVAL_MS', 10_000, errors, 100),
    autoTransitionIntervalMs: intVar(env, 'SHOAL_AUTO_TRANSITION_INTERVAL_MS', 10_000, errors, 100),
    claimLeaseMs: intVar(env, 'SHOAL_CLAIM_LEASE_MS', 30_000, errors, 1000),
    createWaitMs: intVar(env, 'SHOAL_CREATE_WAIT_MS', 30_000, errors, 0),
    snapshotAutoDeactivateDays: intVar(env, 'SHOAL_SNAPSHOT_AUTO_DEACTIVATE_DAYS', 14, errors, 0),
    buildTimeoutSeconds: intVar(env, 'SHOAL_BUILD_TIMEOUT_SECONDS', 3600, errors, 1),
    maxAutoArchiveInterval: intVar(env, 'SHOAL_MAX_AUTO_ARCHIVE_INTERVAL', 43200, errors, 1),
    logLevel: env.SHOAL_API_LOG_LEVEL || 'info',
    proxyMaxStreamsPerOrg: intVar(env, 'SHOAL_PROXY_MAX_STREAMS_PER_ORG', 128, errors),
    credentialCacheTtlMs: intVar(env, 'SHOAL_CREDENTIAL_CACHE_TTL_MS', 30_000, errors),
    sandboxCacheTtlMs: intVar(env, 'SHOAL_SANDBOX_CACHE_TTL_MS', 30_000, errors),
    maxPendingCreates: intVar(env, 'SHOAL_MAX_PENDING_CREATES', 200, errors),
    warmPoolSize: env.SHOAL_WARM_POOL_SIZE === undefined || env.SHOAL_WARM_POOL_SIZE === '' ? undefined : intVar(env, 'SHOAL_WARM_POOL_SIZE', 0, errors),
    warmPoolIntervalMs: intVar(env, 'SHOAL_WARM_POOL_INTERVAL_MS', 2000, errors, 100),
    proxyConnectTimeoutMs: intVar(env, 'SHOAL_PROXY_CONNECT_TIMEOUT_MS', 5000, errors, 100),
    proxyHeadersTimeoutMs: intVar(env, 'SHOAL_PROXY_HEADERS_TIMEOUT_MS', 600_000, errors, 100),
    proxyIdleTimeoutMs: intVar(env, 'SHOAL_PROXY_IDLE_TIMEOUT_MS', 900_000, errors, 100),
    proxyWsIdleTimeoutMs: intVar(env, 'SHOAL_PROXY_WS_IDLE_TIMEOUT_MS', 3_600_000, errors),
    version: '0.108.1-shoal',
    internalRegistry: '',
    registryTokenKeyFile: env.SHOAL_REGISTRY_TOKEN_KEY_FILE || undefined,
    registryTokenCertFile: env.SHOAL_REGISTRY_TOKEN_CERT_FILE || undefined,
    oidc: oidcIssuer
      ? { issuer: oidcIssuer, audience: env.SHOAL_OIDC_AUDIENCE ?? '', clientId: env.SHOAL_OIDC_CLIENT_ID || env.SHOAL_OIDC_AUDIENCE || '' }
      : undefined,
    objectStorage: {
      url: s3Url,
      publicUrl: env.SHOAL_S3_PUBLIC_URL ? env.SHOAL_S3_PUBLIC_URL.replace(/\/+$/, '') : s3Url,
      bucket: env.SHOAL_S3_BUCKET || 'shoal-builds',
      region: env.SHOAL_S3_REGION || 'us-east-1',
      accessKey: env.SHOAL_S3_ACCESS_KEY || undefined,
      secretKey: env.SHOAL_S3_SECRET_KEY || undefined,
      pushAccess,
      pushAccessTtlSeconds: intVar(env, 'SHOAL_S3_PUSH_ACCESS_TTL_SECONDS', 3600, errors, 60),
    },
    webhooks: loadWebhookConfig(env, errors),
    audit: loadAuditConfig(env, errors),
    metrics: { enabled: !['off', 'false', '0'].includes((env.SHOAL_METRICS ?? '').toLowerCase()), token: env.SHOAL_METRICS_TOKEN || undefined },
    otlpEndpoint: env.SHOAL_OTLP_ENDPOINT || undefined,
    volumeDriver: (env.SHOAL_VOLUME_DRIVER || 'local') as ApiConfig['volumeDriver'],
    sshGateway: { token: env.SHOAL_SSH_GATEWAY_TOKEN || undefined, address: env.SHOAL_SSH_GATEWAY_ADDRESS || undefined },
  };
  if (config.sshGateway.token && config.sshGateway.token.length < 32) errors.push('SHOAL_SSH_GATEWAY_TOKEN must be at least 32 characters');
  if (config.sshGateway.address && !/^[^\s:@]+:\d{1,5}$/.test(config.sshGateway.address)) errors.push('SHOAL_SSH_GATEWAY_ADDRESS must be host:port');
  if (config.otlpEndpoint && !/^https?:\/\/[^/]+/.test(config.otlpEndpoint)) errors.push('SHOAL_OTLP_ENDPOINT must be an http(s):// URL');
  if (config.metrics.token !== undefined && config.metrics.token.length < 16) errors.push('SHOAL_METRICS_TOKEN must be at least 16 characters');
  if (!['local', 's3'].includes(config.volumeDriver)) errors.push('SHOAL_VOLUME_DRIVER must be local or s3');
  if (config.volumeDriver === 's3' && (!s3Url || !env.SHOAL_S3_ACCESS_KEY || !env.SHOAL_S3_SECRET_KEY)) {
    errors.push('SHOAL_VOLUME_DRIVER=s3 needs SHOAL_S3_URL, SHOAL_S3_ACCESS_KEY and SHOAL_S3_SECRET_KEY');
  }
  config.internalRegistry = env.SHOAL_REGISTRY_ADDRESS || config.defaultSnapshotImage.split('/')[0]!;
  if (!config.registryTokenKeyFile !== !config.registryTokenCertFile) errors.push('SHOAL_REGISTRY_TOKEN_KEY_FILE and SHOAL_REGISTRY_TOKEN_CERT_FILE go together');
  if (errors.length) throw new Error(`Invalid configuration:\n  - ${errors.join('\n  - ')}`);
  return Object.freeze(config);
}
