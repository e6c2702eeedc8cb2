import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { addToolboxOperations } from './openapi/toolbox-paths.js';
import type pg from 'pg';
import { acceptedRequestId, errorEnvelope, reasonPhrase } from '@shoal/contracts';
import type { ApiConfig } from './config.js';
import { createDb, createPool } from './db/database.js';
import { ApiError } from './errors.js';
import { AuthService } from './auth/auth.service.js';
import { registerAudit, AuditRetention } from './audit/index.js';
import { AuditRepository } from './repositories/audit.repository.js';
import { AuditService } from './services/audit.service.js';
import './auth/principal.js';
import { AuthRepository } from './repositories/auth.repository.js';
import { UserRepository } from './repositories/user.repository.js';
import { UserService } from './services/user.service.js';
import { UserKeyPairs } from './auth/user-key-pair.js';
import { ApiKeyRepository } from './repositories/api-key.repository.js';
import { OrganizationRepository } from './repositories/organization.repository.js';
import { RunnerRepository } from './repositories/runner.repository.js';
import { SandboxRepository } from './repositories/sandbox.repository.js';
import { HttpRunnerAdapter, type RunnerAdapter } from './reconciler/runner-client.js';
import { Reconciler } from './reconciler/reconciler.js';
import { SandboxEvents } from './reconciler/sandbox-events.js';
import { BuildDriver } from './reconciler/build-driver.js';
import { HttpSnapshotRunnerClient, SnapshotManager } from './reconciler/snapshot-manager.js';
import { VolumeManager } from './reconciler/volume-manager.js';
import { HttpVolumeRunnerClient, LocalVolumeStorage, S3VolumeStorage } from './reconciler/volume-storage.js';
import { VolumeRepository } from './repositories/volume.repository.js';
import { volumeSchemas } from './routes/volumes/index.js';
import { VolumeService } from './services/volume.service.js';
import { BuildService, HttpBuildRunnerClient, type BuildRunnerClient } from './services/build.service.js';
import { SnapshotService } from './services/snapshot.service.js';
import { internalRegistryHost } from './services/registry-credentials.js';
import { ApiKeyService } from './services/api-key.service.js';
import { DockerRegistryRepository } from './repositories/docker-registry.repository.js';
import { DockerRegistryService } from './services/docker-registry.service.js';
import { RegistrySecrets } from './services/registry-secrets.js';
import { RegistryTokenService } from './services/registry-token.service.js';
import { OrganizationService } from './services/organization.service.js';
import { RunnerService } from './services/runner.service.js';
import { SandboxService } from './services/sandbox.service.js';
import { HttpSnapshotProbe, ReadinessService, type SnapshotProbe } from './services/readiness.service.js';
import { ReadinessRepository } from './repositories/readiness.repository.js';
import type { Services } from './services/services.js';
import { ObjectStorageService } from './services/object-storage.service.js';
import { WebhookService } from './services/webhook.service.js';
import { WebhookRepository } from './repositories/webhook.repository.js';
import { WebhookDeliveryWorker } from './webhooks/delivery-worker.js';
import { sharedSchemas } from './schemas.js';
import type { Runner } from './db/schema.js';
import { apiRoutes } from './routes/index.js';
import { proxyRoutes, attachUpgradeHandler, previewHostRewrite } from './proxy/proxy.js';
import { SshAccessRepository } from './repositories/ssh-access.repository.js';
import { ProxyTraffic } from './proxy/traffic.js';
import { ApiMetrics } from './metrics/api-metrics.js';
import { registerObservability } from './metrics/observability.js';
import { registerDashboard } from './dashboard/dashboard-routes.js';
import { countSandboxStates } from './metrics/sandbox-states.js';
import { startTracing } from '@shoal/telemetry';
import { CredentialCache } from './auth/credential-cache.js';
import { ActivityBumps, RecentRunners } from './proxy/upstream-lookups.js';
import { DEFAULT_WARM_POOL_SIZE, WarmPoolKeeper } from './reconciler/warm-pool-keeper.js';
import { WarmPoolService } from './services/warm-pool.service.js';
import { RowCache, cachedFinder } from './services/row-cache.js';
import { sandboxWrites } from './repositories/sandbox-writes.js';
import type { SandboxWithRunner } from './services/sandbox-dto.js';

/** Where no keeper runs (an app built without background work), admin changes to pools wake nothing. */
const NO_KEEPER = { wake: () => undefined };
import type { ResolvedCredential } from './auth/auth.service.js';

/** Routes whose writes can change what an API key resolves to: keys, users, organizations (members, roles). */
const CREDENTIAL_ROUTES = /^\/api\/(api-keys|users|organizations)(\/|$)/;

export interface AppDeps {
  config: Readonly<ApiConfig>;
  /** A pool owned by the caller; without one, build() creates one from config.databaseUrl and closes it on close. */
  pool?: pg.Pool;
  /** Runner client; tests pass a fake. Defaults to the HTTP client. */
  runnerAdapter?: RunnerAdapter;
  /** How Dockerfile builds reach runners (POST /snapshots/build); tests pass a fake. */
  buildRunner?: BuildRunnerClient;
  logger?: FastifyServerOptions['logger'];
  /**
   * How readiness asks runners whether they hold the default image. Defaults to the runners' HTTP snapshot endpoints;
   * with a fake runnerAdapter and no probe, every image counts as present (the fake runner has no images to build).
   */
  snapshotProbe?: SnapshotProbe;
  /** Start the reconciler, the LISTEN connection and runner health checks when the app is ready (default true). */
  background?: boolean;
}

export interface ShoalApp extends FastifyInstance {
  reconciler: Reconciler;
  /** This app's Prometheus registry (GET /metrics). */
  metrics: ApiMetrics;
}

/** Builds the API without listening: tests use `inject`, main.ts listens. Migrations are the caller's job (see db/migrate.ts). */
export async function build(deps: AppDeps): Promise<ShoalApp> {
  const { config } = deps;
  // Process-wide and idempotent; without SHOAL_OTLP_ENDPOINT nothing of the OpenTelemetry SDK is loaded.
  await startTracing(config.otlpEndpoint, 'shoal-api');
  const app = Fastify({
    logger: deps.logger ?? false,
    // A caller's X-Request-Id is kept when it is plain (it is logged and sent on to the runner); anything else gets a new one.
    genReqId: (req) => acceptedRequestId(req.headers['x-request-id']) ?? randomUUID(),
    // Preview traffic addressed by host name ({port}-{id}.{domain}) is routed like the path form /preview/{port}-{id}/...
    rewriteUrl: previewHostRewrite(config.previewDomain),
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false } },
    bodyLimit: 10 * 1024 * 1024,
    // Two log lines per request drown everything else (runners poll every few seconds); errors are logged by the renderer.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    // Router-level rejections (malformed percent-encoding, over-long path parameters) and HTTP parser errors (e.g. 431
    // for a huge URL) otherwise answer in Fastify's own shape; clients get the Daytona envelope for those too.
    frameworkErrors: (err, req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      void (reply as FastifyReply).code(status).type('application/json').send(errorEnvelope(status, err.message, req.url));
    },
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = JSON.stringify({ ...errorEnvelope(status, status === 431 ? 'Request Header Fields Too Large' : 'Bad Request', ''), error: reasonPhrase(status) });
      socket.end(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  }) as unknown as ShoalApp;

  const ownPool = !deps.pool;
  const pool = deps.pool ?? createPool(config.databaseUrl, 20);
  const db = createDb(pool);
  if (!config.platformSecret) throw new Error('platformSecret is not set (startApi derives one from SHOAL_DATA_DIR)');
  const adapter = deps.runnerAdapter ?? new HttpRunnerAdapter(config.platformSecret);
  const httpAdapter = adapter instanceof HttpRunnerAdapter ? adapter : new HttpRunnerAdapter(config.platformSecret);

  const metrics = new ApiMetrics(
    () => countSandboxStates(db),
    async () => (await new WarmPoolService(db, NO_KEEPER).list()).map((p) => ({ pool: p.id, snapshot: p.snapshot, size: p.size, ready: p.ready, filling: p.filling })),
  );
  app.decorate('metrics', metrics);
  const sandboxRepo = new SandboxRepository(db);
  const runnerRepo = new RunnerRepository(db);
  const snapshotRunners = new HttpSnapshotRunnerClient(config.platformSecret);
  const runnerService = new RunnerService(runnerRepo, sandboxRepo, adapter, app.log, config.runnerHealthIntervalMs, snapshotRunners);
  let reconciler: Reconciler | null = null;
  let snapshotManager: SnapshotManager | null = null;
  let buildDriver: BuildDriver | null = null;
  const credentialCache =
    config.credentialCacheTtlMs > 0 ? new CredentialCache<ResolvedCredential>({ ttlMs: config.credentialCacheTtlMs, maxEntries: 10_000 }) : undefined;
  const rowCache = config.sandboxCacheTtlMs > 0 ? new RowCache<SandboxWithRunner>({ ttlMs: config.sandboxCacheTtlMs, maxEntries: 50_000 }) : undefined;
  const stopHearingWrites = rowCache ? sandboxWrites.subscribe((ids) => rowCache.wrote(ids)) : () => {};
  const sandboxRows = cachedFinder(sandboxRepo, rowCache);
  // Where the proxy and a warm-pool claim send their calls: read on every request of their kind.
  const runnerCache = config.sandboxCacheTtlMs > 0 ? new RowCache<Runner>({ ttlMs: config.sandboxCacheTtlMs, maxEntries: 10_000 }) : undefined;
  const recentRunners = runnerCache ? cachedFinder(runnerRepo, runnerCache) : new RecentRunners(runnerRepo);
  const events = new SandboxEvents(
    config.databaseUrl,
    () => {
      reconciler?.wake();
      snapshotManager?.wake();
      buildDriver?.wake();
    },
    (err) => app.log.warn({ err }, 'LISTEN connection problem'),
    credentialCache,
    rowCache,
    runnerCache,
  );
  reconciler = new Reconciler(db, adapter, runnerService, events, app.log, {
    intervalMs: config.reconcileIntervalMs,
    leaseMs: config.claimLeaseMs,
    runnerHealthIntervalMs: config.runnerHealthIntervalMs,
    autoTransitionIntervalMs: config.autoTransitionIntervalMs,
    metrics,
  });
  app.decorate('reconciler', reconciler);
  const registryHost = internalRegistryHost(config.defaultSnapshotImage);
  const dockerRegistryRepo = new DockerRegistryRepository(db);
  // Also the snapshot manager's RegistryCredentialsLookup: pulls use the organization's docker-registry entries.
  const dockerRegistries = new DockerRegistryService(dockerRegistryRepo, new RegistrySecrets(config.platformSecret), config.internalRegistry);
  snapshotManager = new SnapshotManager(db, snapshotRunners, dockerRegistries, app.log, {
    intervalMs: Math.max(config.reconcileIntervalMs, 500),
    leaseMs: config.claimLeaseMs,
    registryHost,
    autoDeactivateDays: config.snapshotAutoDeactivateDays,
    defaultSnapshot: config.defaultSnapshot,
  });

  const volumeStorage =
    config.volumeDriver === 's3'
      ? new S3VolumeStorage({
          url: config.objectStorage.url!,
          region: config.objectStorage.region,
          bucket: config.objectStorage.bucket,
          accessKey: config.objectStorage.accessKey!,
          secretKey: config.objectStorage.secretKey!,
        })
      : new LocalVolumeStorage(() => new VolumeRepository(db).runners(), new HttpVolumeRunnerClient(config.platformSecret), app.log);
  const volumeManager = new VolumeManager(db, volumeStorage, app.log, { intervalMs: Math.max(config.reconcileIntervalMs, 500) * 5, leaseMs: config.claimLeaseMs });

  const users = new UserService(new UserRepository(db), new UserKeyPairs(config.platformSecret));
  const authService = new AuthService(new AuthRepository(db), app.log, users, config.oidc, config.sshGateway.token, credentialCache);
  const probe: SnapshotProbe =
    deps.snapshotProbe ??
    (deps.runnerAdapter ? { exists: async () => true, lastLogLine: async () => undefined } : new HttpSnapshotProbe(config.platformSecret));
  const readiness = new ReadinessService(new ReadinessRepository(db), probe, { name: config.defaultSnapshot, image: config.defaultSnapshotImage });
  // Pools are filled only by a process that runs the background work; claims work in any process.
  const warmPools =
    deps.background !== false
      ? new WarmPoolKeeper(db, app.log, {
          intervalMs: config.warmPoolIntervalMs,
          maxFilling: 2,
          defaultPool: { snapshot: config.defaultSnapshot, size: config.warmPoolSize ?? DEFAULT_WARM_POOL_SIZE, enforce: config.warmPoolSize !== undefined },
        })
      : undefined;
  const services: Services = {
    config,
    readiness,
    sandboxes: new SandboxService(db, reconciler, events, config, readiness, sandboxRows, recentRunners),
    runners: runnerService,
    apiKeys: new ApiKeyService(new ApiKeyRepository(db), new OrganizationRepository(db)),
    organizations: new OrganizationService(db),
    snapshots: new SnapshotService(db, snapshotManager, snapshotRunners, registryHost),
    dockerRegistries,
    registryTokens: new RegistryTokenService(
      dockerRegistryRepo,
      config.registryTokenKeyFile && config.registryTokenCertFile ? { keyFile: config.registryTokenKeyFile, certFile: config.registryTokenCertFile } : undefined,
    ),
    objectStorage: new ObjectStorageService(config),
    webhooks: new WebhookService(db, config.webhooks, config.platformSecret, config.publicUrl),
    audit: new AuditService(new AuditRepository(db)),
    users,
    volumes: new VolumeService(db, volumeManager),
    warmPools: new WarmPoolService(db, warmPools ?? NO_KEEPER),
  };

  const builds = new BuildService(
    db,
    services.sandboxes,
    deps.buildRunner ?? new HttpBuildRunnerClient(config.platformSecret),
    snapshotRunners,
    registryHost,
    () => reconciler?.wake(),
    app.log,
    // Only a registry with token auth (ours) knows these logins; an external one is used as it is.
    config.registryTokenKeyFile ? (orgId) => dockerRegistries.buildAccess(orgId) : undefined,
    (orgId, imageRef) => dockerRegistries.forImage(orgId, imageRef),
    { timeoutMs: config.buildTimeoutSeconds * 1000, wakeBuilds: () => buildDriver?.wake() },
  );
  buildDriver = new BuildDriver(db, builds, app.log, { intervalMs: Math.max(config.reconcileIntervalMs, 500), leaseMs: config.claimLeaseMs });
  // Webhook deliveries from the outbox (webhooks/*), claimed by any replica like the other background work.
  const webhookWorker = new WebhookDeliveryWorker(new WebhookRepository(db), config.databaseUrl, config.webhooks, app.log, {
    intervalMs: Math.max(config.reconcileIntervalMs, 500),
    leaseMs: config.claimLeaseMs,
    onAttempt: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
  });
  services.sandboxes.builds = builds;
  services.snapshots.builds = builds;
  services.builds = builds;

  registerParsers(app);
  registerErrorHandling(app);
  // Before any route: it wraps route handlers so they run in the request's trace context.
  registerObservability(app, metrics, config.metrics);

  app.decorateRequest('principal', null);
  // Authentication runs before body parsing and validation, so unauthenticated callers get 401 before any 400.
  app.addHook('onRequest', async (req) => {
    const requirement = req.routeOptions.config?.auth;
    if (!requirement || requirement === 'none') return;
    const principal = await authService.resolve(req.headers.authorization, {
      header: req.headers['x-daytona-organization-id'],
      param: (req.params as { organizationId?: string } | undefined)?.organizationId,
    });
    // Set before the check, so a refused write is still audited with who tried it (audit/hooks.ts).
    req.principal = principal;
    authService.check(principal, requirement, req.routeOptions.config.permission);
  });
  // A write this process served to keys, members, roles or users empties its credential cache before the
  // answer leaves, so the caller's next request here already sees it; other replicas hear the database's NOTIFY.
  app.addHook('onSend', async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && CREDENTIAL_ROUTES.test(req.routeOptions.url ?? '')) authService.forgetCredentials();
  });
  // After authentication (the row names the caller), before every route: writes are recorded (audit/hooks.ts).
  registerAudit(app, {
    audit: services.audit,
    ...(config.audit.toolboxRequests
      ? { toolbox: { resolvePrincipal: (authorization) => authService.resolve(authorization), sandboxOrganization: async (id) => (await sandboxRepo.findById(id))?.organizationId ?? null } }
      : {}),
  });
  const auditRetention = new AuditRetention(services.audit, config.audit.retentionDays, app.log);

  for (const schema of sharedSchemas) app.addSchema(schema);
  for (const schema of volumeSchemas) app.addSchema(schema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Shoal API (Daytona v0.108 compatible)', version: config.version },
      servers: [{ url: config.publicUrl }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transformObject: (d) => {
      const doc = (d as { openapiObject: Parameters<typeof addToolboxOperations>[0] }).openapiObject;
      addToolboxOperations(doc);
      return doc as never;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  app.get('/api/openapi.json', { schema: { hide: true }, config: { auth: 'none' } }, async () => app.swagger());
  registerDashboard(app, { oidcIssuer: config.oidc?.issuer });

  await app.register(
    async (api) => {
      apiRoutes(api, services);
    },
    { prefix: '/api' },
  );
  // Proxied user traffic has connections, timeouts and per-organization caps of its own (proxy/traffic.ts).
  const proxyDeps = {
    authService,
    sandboxes: sandboxRows,
    runners: recentRunners,
    activity: new ActivityBumps(sandboxRepo),
    sshAccess: new SshAccessRepository(db),
    http: httpAdapter,
    traffic: ProxyTraffic.fromConfig(config),
    config,
    metrics,
  };
  await app.register(async (proxy) => {
    proxyRoutes(proxy, proxyDeps);
  });
  attachUpgradeHandler(app, proxyDeps);

  if (adapter.claimSandbox) services.sandboxes.poolClaims = { adapter: { claimSandbox: adapter.claimSandbox.bind(adapter) }, log: app.log };
  if (deps.background !== false) {
    app.addHook('onReady', async () => {
      await events.start();
      warmPools?.start();
      reconciler!.start();
      snapshotManager!.start();
      volumeManager.start();
      buildDriver!.start();
      await webhookWorker.start();
      auditRetention.start();
    });
  }
  app.addHook('onClose', async () => {
    await warmPools?.stop();
    await reconciler!.stop();
    await snapshotManager!.stop();
    await volumeManager.stop();
    if (volumeStorage instanceof S3VolumeStorage) volumeStorage.destroy();
    await buildDriver!.stop();
    await webhookWorker.stop();
    await auditRetention.stop();
    // Outcomes written after their answers (audit/actions.ts completeAfterAnswer) land before the pool closes.
    await services.audit.settled();
    await events.close();
    stopHearingWrites();
    await proxyDeps.traffic.close();
    await httpAdapter.close();
    if (adapter !== httpAdapter && 'close' in adapter && typeof adapter.close === 'function') await (adapter.close as () => Promise<void>)();
    await db.destroy().catch(() => {});
    if (ownPool) await pool.end().catch(() => {});
  });
  return app;
}

function registerParsers(app: FastifyInstance): void {
  // The SDK sends bodiless POSTs as `application/x-www-form-urlencoded` with Content-Length 0, and some clients send
  // `application/json` with an empty body: both mean "no body".
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError(400, 'Request body is not valid JSON'), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    done(null, Object.fromEntries(new URLSearchParams(text)));
  });
}

function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    let status: number;
    let message: string | string[];
    if (err instanceof ApiError) {
      status = err.statusCode;
      message = err.message;
    } else if ((err as FastifyError).validation) {
      const fe = err as FastifyError;
      status = 400;
      message = fe.validation!.map((v) => {
        const missing = v.keyword === 'required' ? `/${String((v.params as { missingProperty?: string }).missingProperty ?? '')}` : '';
        const field = `${fe.validationContext ?? 'request'}${v.instancePath}${missing}`.replace(/\//g, '.');
        return `${field} ${v.message ?? 'is invalid'}`;
      });
    } else if (isClientDataError(err)) {
      // Constraint and range violations can only come from what the client sent (e.g. an interval beyond int32).
      const code = (err as { code?: string }).code;
      status = code === '23505' ? 409 : 400;
      message = code === '23505' ? 'Resource already exists' : 'Invalid value in request';
    } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! >= 400 && (err as FastifyError).statusCode! < 500) {
      status = (err as FastifyError).statusCode!;
      message = err.message;
    } else {
      status = 500;
      message = 'Internal server error';
      req.log.error({ err, reqId: req.id }, 'unhandled error');
    }
    if (status >= 500 && err instanceof ApiError) req.log.warn({ reqId: req.id, message: err.message }, 'request failed');
    if (reply.sent || reply.raw.headersSent) return;
    if (err instanceof ApiError && err.retryAfterSeconds !== undefined) void reply.header('retry-after', String(err.retryAfterSeconds));
    void reply.code(status).type('application/json').send(errorEnvelope(status, message, req.url));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorEnvelope(404, `Cannot ${req.method} ${req.url.split('?')[0]}`, req.url));
  });
}

/** PostgreSQL errors caused by the request's values: unique violation, invalid text, numeric out of range, string too long, NUL characters. */
function isClientDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // 22021/22P05: a NUL character in text or JSON, which PostgreSQL cannot store.
  return typeof code === 'string' && ['23505', '22P02', '22003', '22001', '22007', '22008', '22021', '22P05'].includes(code) && 'severity' in (err as object);
}
