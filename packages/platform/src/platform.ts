import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { REGISTRY_TOKEN_ISSUER, REGISTRY_TOKEN_PATH, REGISTRY_TOKEN_SERVICE, RUNNER_REGISTRY_USERNAME, runnerCallToken, runnerTokenHash } from '@shoal/contracts';
import { ensureTraversable, startEmbeddedPostgres, type RunningPostgres } from '@shoal/postgres';
import { endLeftovers, forgetPid, isRecordedProcess, recordPid } from './leftovers.js';
import { objectStorageEnv, startObjectStorage, type ObjectStorageEndpoint, type RunningObjectStorage } from './objects.js';
import { ManagedProcess } from './managed-process.js';
import { pickPort } from './ports.js';
import { ensureRegistryTokenKeys, startRegistry, waitForHttp, type RegistryTokenKeys, type RunningRegistry } from './registry.js';
import { SERVICE_NODE_FLAGS } from './service-node-flags.js';
import { mintSupervisorKey, publishedKeyState, readCredentials, waitForReady, PENDING_CREDENTIALS, CREDENTIALS } from './credentials.js';
import { generateApiKey, writeCredentials } from './api-keys.js';

/** How long the supervisor waits for a runner to stop its sandboxes before it SIGKILLs it. */
const RUNNER_STOP_GRACE_MS = 25_000;
/** Not a `.pid` file: endLeftovers never ends a supervisor, claimDataDir only checks it. */
const SUPERVISOR = 'supervisor';

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const repoRoot = resolve(new URL('../../..', import.meta.url).pathname);

export interface PlatformOptions {
  dataDir: string;
  /** OTLP/HTTP collector for traces of the API and runners (SHOAL_OTLP_ENDPOINT for them; unset: no tracing). */
  otlpEndpoint?: string;
  apiPort: number;
  apiHost?: string;
  /** External PostgreSQL: when set no embedded server is started. */
  databaseUrl?: string;
  /** External registry (host:port): when set none is started. */
  registryAddress?: string;
  /**
   * External S3-compatible object storage (path-style URL and a credential for the API and runners): when set the
   * embedded one is not started. push-access then refuses (`none`, default) unless the operator chooses `shared`
   * (every organization gets this credential: single-tenant use only). README "Object storage".
   */
  objectStorage?: { url: string; accessKey: string; secretKey: string; bucket?: string; region?: string; pushAccess?: 'shared' | 'none' };
  /** Number of runners to start on this machine (each with its own data dir, bridge and subnet). */
  runners?: number;
  /** Bridge name prefix; runner i uses `<prefix><i>`. Kept short: Linux interface names have at most 15 bytes. */
  bridgePrefix?: string;
  /** Second octet of runner 0's 10.x.0.0/16 subnet; runner i uses x+i. */
  subnetOctet?: number;
  imageCacheDir?: string;
  previewDomain?: string;
  adminApiKey?: string;
  /**
   * Build or pull the default snapshot on the first runner and wait for GET /api/health/ready before publishing
   * credentials.json (default true). With false the file is published as soon as the runners are registered.
   */
  prepareDefaultSnapshot?: boolean;
  /** Stop running sandboxes when the runner exits (default true: Ctrl-C leaves nothing running). */
  stopSandboxesOnExit?: boolean;
  /**
   * Let the runner move cgroup2 controllers of a hybrid host to v1 mounts so that crun (about twice as fast as runc)
   * can run (default true). With false the runner falls back to runc on such hosts and leaves the host unchanged.
   */
  cgroupFix?: boolean;
  /**
   * Use the well-known internal ports (registry 5100, runners 3003+) when they are free (default true, for `shoal up`).
   * Tests turn this off: two platforms starting at once could otherwise both see a port free and race for it.
   */
  preferWellKnownPorts?: boolean;
  /**
   * Sandbox egress (README "Network"): private CIDRs the operator opens to sandboxes (denied by default), the
   * essential CIDRs of organizations with limited egress, and extra CIDRs no sandbox may reach (e.g. the database host).
   */
  network?: { allowPrivateCidrs?: string[]; limitedEgressCidrs?: string[]; denyCidrs?: string[] };
  /**
   * Volumes (README "Volumes"): `local` (default; this host's disk, shared by its runners under `volumesDir`, default
   * `<dataDir>/volumes`) or `s3` (the object storage bucket through s3fs, for runners on several hosts).
   */
  volumes?: { driver?: 'local' | 's3'; dir?: string };
  /**
   * SSH gateway (apps/ssh-gateway): its port (default 2222 when free, else a free one; kept in platform.json) and
   * address; `false` starts none.
   */
  ssh?: { port?: number; host?: string } | false;
  log?: (line: string) => void;
  extraApiEnv?: NodeJS.ProcessEnv;
  extraRunnerEnv?: NodeJS.ProcessEnv;
}

export interface RunnerHandle {
  index: number;
  url: string;
  token: string;
  domain: string;
  process: ManagedProcess;
}

export interface Platform {
  /** The URL users give the SDK as DAYTONA_API_URL (ends in /api). */
  apiUrl: string;
  /** The key published in credentials.json; when that file is missing, the supervisor's own key (rotated every start). */
  apiKey: string;
  /** `<dataDir>/credentials.json`, written (atomically) only once GET /api/health/ready answered 200. */
  credentialsFile: string;
  /** True when credentials.json was lost after the first start: `shoal credentials reset` mints a new key. */
  credentialsMissing: boolean;
  databaseUrl: string;
  registryAddress: string;
  defaultSnapshot: string;
  defaultImage: string;
  api: ManagedProcess;
  runners: RunnerHandle[];
  postgres?: RunningPostgres;
  registry?: RunningRegistry;
  /** The S3 endpoint the API and runners use (embedded or external). */
  objectStorageUrl: string;
  objects?: RunningObjectStorage;
  /** Starts the API process again (after a kill or stop) and waits until it is healthy. */
  startApi(): Promise<void>;
  startRunner(index: number): Promise<void>;
  /**
   * The SSH gateway (`ssh -p port <token>@host`); absent when started with `ssh: false`. `token` is its service
   * credential (tests validate SSH tokens with it, as the gateway does).
   */
  ssh?: { host: string; port: number; token: string; process: ManagedProcess; start(): Promise<void> };
  /** SIGKILLs the embedded PostgreSQL (fault tests); throws when the database is external. */
  killPostgres(): Promise<void>;
  /** Starts the embedded PostgreSQL again on the same data directory and port. */
  startPostgres(): Promise<void>;
  stop(): Promise<void>;
}

interface PersistedLayout {
  /** The API URL of the last start, for `shoal credentials reset` on a stopped platform. */
  apiUrl?: string;
  postgresPort: number;
  registryPort: number;
  /** Absent in layouts written before object storage existed; chosen on the next start. */
  objectsPort?: number;
  /** The SSH gateway's port, chosen on the first start that runs it. */
  sshPort?: number;
  runners: Array<{ port: number; token: string; bridge: string; subnet: string }>;
}

/**
 * Chooses internal ports and runner tokens on first start and keeps them in `<dataDir>/platform.json`: the registry
 * address is part of every snapshot's image name and the runner tokens are stored in the database, so both must survive restarts.
 */
async function loadLayout(opts: PlatformOptions): Promise<PersistedLayout> {
  const file = join(opts.dataDir, 'platform.json');
  const count = opts.runners ?? 1;
  const prefix = opts.bridgePrefix ?? 'shoal';
  const octet = opts.subnetOctet ?? 210;
  const prefer = opts.preferWellKnownPorts !== false;
  let layout: PersistedLayout | undefined;
  if (existsSync(file)) layout = JSON.parse(await readFile(file, 'utf8')) as PersistedLayout;
  const taken = new Set<number>([opts.apiPort]);
  if (opts.ssh && opts.ssh.port !== undefined) taken.add(opts.ssh.port);
  if (layout) {
    for (const p of [layout.postgresPort, layout.registryPort, layout.objectsPort, layout.sshPort, ...layout.runners.map((r) => r.port)]) if (p !== undefined) taken.add(p);
  } else {
    layout = {
      postgresPort: await pickPort(opts.apiPort + 2432, prefer, taken),
      registryPort: await pickPort(5100, prefer, taken),
      runners: [],
    };
  }
  layout.objectsPort ??= await pickPort(5300, prefer, taken);
  if (opts.ssh !== false) {
    if (opts.ssh?.port !== undefined) layout.sshPort = opts.ssh.port;
    layout.sshPort ??= await pickPort(2222, prefer, taken);
  }
  for (let i = layout.runners.length; i < count; i++) {
    layout.runners.push({
      port: await pickPort(3003 + i, prefer, taken),
      token: randomBytes(32).toString('hex'),
      bridge: `${prefix}${i}`,
      subnet: `10.${octet + i}.0.0/16`,
    });
  }
  await writeFile(file, JSON.stringify(layout, null, 2));
  await chmod(file, 0o600);
  return layout;
}

/**
 * How long a started process may take to answer. A process that exits fails the wait at once, so this bounds only a
 * hang; it is generous because a loaded 2-core host (a build, two e2e files) has taken over 60 s to load the API.
 */
const READY_WAIT_MS = 180_000;

export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true });
  const opened = [...(await ensureTraversable(dataDir)), ...(await ensureTraversable(repoRoot))];
  if (opened.length > 0) log(`[platform] made traversable for the postgres user and sandboxes (o+x): ${[...new Set(opened)].join(', ')}`);
  const layout = await loadLayout({ ...opts, dataDir });
  const platformSecret = await ensurePlatformSecret(dataDir);
  const pids = join(dataDir, 'pids');
  await claimDataDir(pids);
  // A supervisor killed without stopping (SIGKILL, power loss) left its processes: end them before starting anything
  // (runners first, so they still stop their sandboxes). A leftover PostgreSQL is stopped by startEmbeddedPostgres.
  await endLeftovers(pids, ['ssh-gateway', 'runner', 'api', 'registry', 'objects'], RUNNER_STOP_GRACE_MS, log);
  const apiHost = opts.apiHost ?? '127.0.0.1';
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch((e: Error) => log(`[platform] stop failed: ${e.message}`));
    started.length = 0;
    forgetPid(join(pids, SUPERVISOR), process.pid);
  };
  try {
    let postgres: RunningPostgres | undefined;
    let databaseUrl = opts.databaseUrl;
    // Its own process group: a Ctrl-C must not take the database away before the runners have reported their
    // sandboxes stopped and the API has shut down; stop() ends it last.
    const pgOptions = { dataDir: join(dataDir, 'postgres'), port: layout.postgresPort, ownProcessGroup: true };
    if (!databaseUrl) {
      log('[platform] starting embedded PostgreSQL');
      postgres = await startEmbeddedPostgres(pgOptions);
      started.push(() => postgres!.stop());
      await ensureDatabase(postgres.url, 'shoal');
      databaseUrl = postgres.urlFor('shoal');
    }

    const publicUrl = `http://${apiHost}:${opts.apiPort}`;
    let registry: RunningRegistry | undefined;
    let registryAddress = opts.registryAddress;
    // Our own registry takes only tokens the API signs (runners: everything; registry-push-access: one project);
    // an external one (e.g. the tests' shared registry) is used as it is.
    let registryKeys: RegistryTokenKeys | undefined;
    if (!registryAddress) {
      registryKeys = await ensureRegistryTokenKeys(join(dataDir, 'registry-auth'));
      registry = await startRegistry({
        dataDir: join(dataDir, 'registry'),
        port: layout.registryPort,
        log,
        pidFile: join(pids, 'registry.pid'),
        tokenAuth: { realm: `${publicUrl}${REGISTRY_TOKEN_PATH}`, service: REGISTRY_TOKEN_SERVICE, issuer: REGISTRY_TOKEN_ISSUER, certFile: registryKeys.certFile },
      });
      started.push(() => registry!.stop());
      registryAddress = registry.address;
    }

    let objects: RunningObjectStorage | undefined;
    let objectStorage: ObjectStorageEndpoint;
    if (opts.objectStorage) {
      const ext = opts.objectStorage;
      objectStorage = { url: ext.url.replace(/\/+$/, ''), accessKey: ext.accessKey, secretKey: ext.secretKey, bucket: ext.bucket ?? 'shoal-builds', region: ext.region ?? 'us-east-1', pushAccess: ext.pushAccess ?? 'none' };
    } else {
      // Build contexts uploaded by the SDK (push-access) and read by runners; listens where the API does, since SDK
      // users upload to it directly.
      objects = await startObjectStorage({ dataDir, host: apiHost, port: layout.objectsPort!, platformSecret, log, pidFile: join(pids, 'objects.pid') });
      started.push(() => objects!.stop());
      objectStorage = objects.endpoint;
    }
    log(`[platform] object storage (S3, path-style): ${objectStorage.url} bucket ${objectStorage.bucket}${objects ? ` (embedded, data in ${join(dataDir, 'objects')})` : ' (external)'}`);

    const defaultSnapshot = 'shoal/sandbox:0.1.0';
    const defaultImage = `${registryAddress}/shoal/sandbox:0.1.0`;
    const apiUrl = `${publicUrl}/api`;
    const tsx = ['--import', 'tsx'];
    // Child processes get a clean environment: nothing of the caller's (NODE_EXTRA_CA_CERTS, proxies) leaks into
    // the platform processes and from there into sandboxes.
    const baseEnv: NodeJS.ProcessEnv = { PATH: SYSTEM_PATH, HOME: '/root', NODE_ENV: 'production' };
    // Traces (README "Traces"): the API and the runners export to the same collector, or nothing is loaded at all.
    const otlpEndpoint = opts.otlpEndpoint;
    if (otlpEndpoint) baseEnv.SHOAL_OTLP_ENDPOINT = otlpEndpoint;
    // The API and every runner agree on where volumes live; the runners of this host share the directory.
    const volumeEnv = { SHOAL_VOLUME_DRIVER: opts.volumes?.driver ?? 'local', SHOAL_VOLUMES_DIR: opts.volumes?.dir ?? join(dataDir, 'volumes') };

    layout.apiUrl = apiUrl;
    await writeFile(join(dataDir, 'platform.json'), JSON.stringify(layout, null, 2), { mode: 0o600 });
    const credentialsFile = join(dataDir, CREDENTIALS);
    const published = await readCredentials(credentialsFile);
    let pendingKey: string | undefined;
    if (!published) {
      // Survives a crash before readiness: the next start publishes the same key instead of minting another.
      pendingKey = (await readCredentials(join(dataDir, PENDING_CREDENTIALS)))?.apiKey ?? opts.adminApiKey ?? generateApiKey();
      await writeCredentials(dataDir, publicUrl, pendingKey, PENDING_CREDENTIALS);
    }

    // The gateway's service credential, derived from the platform secret (stable across restarts, never stored apart).
    const sshSettings =
      opts.ssh === false || layout.sshPort === undefined
        ? undefined
        : { host: (opts.ssh && opts.ssh.host) || apiHost, port: layout.sshPort, token: createHmac('sha256', platformSecret).update('shoal-ssh-gateway').digest('hex') };
    const api = new ManagedProcess({
      name: 'api',
      command: process.execPath,
      args: [...SERVICE_NODE_FLAGS, ...tsx, join(repoRoot, 'apps/api/src/main.ts')],
      cwd: repoRoot,
      log,
      pidFile: join(pids, 'api.pid'),
      env: {
        ...baseEnv,
        DATABASE_URL: databaseUrl,
        SHOAL_API_HOST: apiHost,
        SHOAL_API_PORT: String(opts.apiPort),
        SHOAL_PUBLIC_URL: publicUrl,
        SHOAL_DATA_DIR: dataDir,
        SHOAL_DEFAULT_SNAPSHOT: defaultSnapshot,
        // Request logs would drown the console of `shoal up`; warnings and errors still show.
        SHOAL_API_LOG_LEVEL: 'warn',
        SHOAL_DEFAULT_SNAPSHOT_IMAGE: defaultImage,
        SHOAL_REGISTRY_ADDRESS: registryAddress,
        ...objectStorageEnv(objectStorage),
        SHOAL_S3_PUSH_ACCESS: objectStorage.pushAccess,
        ...(registryKeys ? { SHOAL_REGISTRY_TOKEN_KEY_FILE: registryKeys.keyFile, SHOAL_REGISTRY_TOKEN_CERT_FILE: registryKeys.certFile } : {}),
        ...(opts.previewDomain ? { SHOAL_PREVIEW_DOMAIN: opts.previewDomain } : {}),
        // The key of a first start is chosen here and kept in a private pending file until the platform is ready.
        ...(pendingKey ? { SHOAL_ADMIN_API_KEY: pendingKey } : {}),
        SHOAL_WRITE_CREDENTIALS: '0',
        SHOAL_PLATFORM_SECRET: platformSecret,
        ...(sshSettings ? { SHOAL_SSH_GATEWAY_TOKEN: sshSettings.token, SHOAL_SSH_GATEWAY_ADDRESS: `${sshSettings.host}:${sshSettings.port}` } : {}),
        ...volumeEnv,
        ...opts.extraApiEnv,
      },
    });
    const startApi = async () => {
      api.start();
      await waitForHttp(`${apiUrl}/health`, READY_WAIT_MS, () => api.running);
    };
    // Registered before the wait: an API that never answers /health is stopped with the rest, not left behind.
    started.push(() => api.stop());
    await startApi();
    // The supervisor registers runners with a key of its own, so a lost credentials.json never stops a start.
    const supervisorKey = await mintSupervisorKey(databaseUrl);
    const userKey = await publishedKeyState(databaseUrl, published?.apiKey, pendingKey);
    if (!userKey) await rm(join(dataDir, PENDING_CREDENTIALS), { force: true });
    const apiKey = userKey?.key ?? supervisorKey;

    const runners: RunnerHandle[] = layout.runners.slice(0, opts.runners ?? 1).map((r, index) => {
      const url = `http://127.0.0.1:${r.port}`;
      const proc = new ManagedProcess({
        name: index === 0 ? 'runner' : `runner-${index}`,
        command: process.execPath,
        args: [...SERVICE_NODE_FLAGS, ...tsx, join(repoRoot, 'apps/runner/src/main.ts')],
        cwd: repoRoot,
        log,
        pidFile: join(pids, `${index === 0 ? 'runner' : `runner-${index}`}.pid`),
        env: {
          ...baseEnv,
          SHOAL_RUNNER_HOST: '127.0.0.1',
          SHOAL_RUNNER_PORT: String(r.port),
          SHOAL_RUNNER_TOKEN: r.token,
          // What the API presents when calling this runner; the API derives it, the database alone cannot.
          SHOAL_RUNNER_CALL_TOKEN: runnerCallToken(platformSecret, runnerTokenHash(r.token)),
          SHOAL_RUNNER_API_URL: apiUrl,
          SHOAL_RUNNER_DATA_DIR: join(dataDir, index === 0 ? 'runner' : `runner-${index}`),
          SHOAL_RUNNER_SUBNET: r.subnet,
          SHOAL_RUNNER_BRIDGE: r.bridge,
          SHOAL_TOOLBOX_DIR: join(repoRoot, 'apps/toolbox/dist'),
          SHOAL_DEFAULT_IMAGE: defaultImage,
          // The runner's login on our registry is its own token (the API knows its hash); never passed to sandboxes.
          ...(registryKeys ? { SHOAL_RUNNER_REGISTRY_USERNAME: RUNNER_REGISTRY_USERNAME, SHOAL_RUNNER_REGISTRY_PASSWORD: r.token } : {}),
          // Build contexts (H4's builder reads them with the service credential); never passed to sandboxes.
          ...objectStorageEnv(objectStorage),
          SHOAL_RUNNER_STOP_SANDBOXES_ON_EXIT: opts.stopSandboxesOnExit === false ? '0' : '1',
          SHOAL_RUNNER_LOG_LEVEL: 'warn',
          SHOAL_RUNNER_CGROUP_FIX: opts.cgroupFix === false ? '0' : '1',
          ...(opts.imageCacheDir ? { SHOAL_IMAGE_CACHE_DIR: opts.imageCacheDir } : {}),
          // Every runner's sandboxes are denied every other runner's subnet (the floor), whatever the operator opens.
          SHOAL_RUNNER_PEER_SUBNETS: layout.runners.filter((o) => o !== r).map((o) => o.subnet).join(','),
          SHOAL_RUNNER_ALLOW_PRIVATE_CIDRS: (opts.network?.allowPrivateCidrs ?? []).join(','),
          SHOAL_RUNNER_LIMITED_EGRESS_CIDRS: (opts.network?.limitedEgressCidrs ?? []).join(','),
          SHOAL_RUNNER_DENY_CIDRS: (opts.network?.denyCidrs ?? []).join(','),
          ...volumeEnv,
          ...opts.extraRunnerEnv,
        },
      });
      return { index, url, token: r.token, domain: `runner-${index}.${r.bridge}.local`, process: proc };
    });

    const startRunner = async (index: number) => {
      const r = runners[index]!;
      r.process.start();
      await waitForHttp(`${r.url}/`, READY_WAIT_MS, () => r.process.running);
      // Whatever answered must be this runner: another one on the same port would take our sandboxes' calls.
      const info = await fetch(`${r.url}/info`, { headers: { authorization: `Bearer ${r.token}` } });
      await info.arrayBuffer();
      if (!info.ok || !r.process.running) throw new Error(`runner ${index} at ${r.url} is not ours (HTTP ${info.status}); is another runner using the port?`);
    };
    for (const r of runners) {
      // The runner stops its sandboxes within its own bound (10 s, then it tears down without waiting); the
      // supervisor waits longer, so that only a hung runner is killed and left for the next start to clean.
      started.push(() => r.process.stop('SIGTERM', RUNNER_STOP_GRACE_MS));
      await startRunner(r.index);
      await registerRunner(apiUrl, supervisorKey, r);
    }

    let ssh: Platform['ssh'];
    if (sshSettings) {
      const gateway = new ManagedProcess({
        name: 'ssh-gateway',
        command: process.execPath,
        args: [...tsx, join(repoRoot, 'apps/ssh-gateway/src/main.ts')],
        cwd: repoRoot,
        log,
        pidFile: join(pids, 'ssh-gateway.pid'),
        env: {
          ...baseEnv,
          SHOAL_SSH_HOST: sshSettings.host,
          SHOAL_SSH_PORT: String(sshSettings.port),
          SHOAL_SSH_DATA_DIR: join(dataDir, 'ssh-gateway'),
          SHOAL_API_URL: publicUrl,
          SHOAL_SSH_GATEWAY_TOKEN: sshSettings.token,
        },
      });
      const start = async () => {
        gateway.start();
        await gateway.waitForLine(/SSH gateway listening/, READY_WAIT_MS);
      };
      // Stopped before the API and the runners (stop() runs the list backwards).
      started.push(() => gateway.stop());
      await start();
      ssh = { host: sshSettings.host, port: sshSettings.port, token: sshSettings.token, process: gateway, start };
    }

    if (opts.prepareDefaultSnapshot !== false && runners.length > 0) {
      log(`[platform] preparing the default snapshot ${defaultSnapshot} (built from Debian packages on first run)`);
      await prepareImage(runners[0]!, defaultImage);
      // The file is the signal scripts poll for: it appears only when create() of the default snapshot can succeed.
      await waitForReady(apiUrl, 600_000, () => api.running);
    }
    if (userKey?.pending) {
      await writeCredentials(dataDir, publicUrl, userKey.key);
      await rm(join(dataDir, PENDING_CREDENTIALS), { force: true });
    }

    return {
      apiUrl,
      apiKey,
      credentialsFile,
      credentialsMissing: !userKey,
      databaseUrl,
      registryAddress,
      defaultSnapshot,
      defaultImage,
      api,
      runners,
      ...(postgres ? { postgres } : {}),
      ...(registry ? { registry } : {}),
      objectStorageUrl: objectStorage.url,
      ...(objects ? { objects } : {}),
      startApi,
      startRunner,
      ...(ssh ? { ssh } : {}),
      killPostgres: async () => {
        if (!postgres) throw new Error('the database is external');
        const pid = await postgres.pid();
        if (pid === undefined) return;
        process.kill(pid, 'SIGKILL');
        for (let i = 0; i < 100; i++) {
          try {
            process.kill(pid, 0);
          } catch {
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      startPostgres: async () => {
        if (!postgres) throw new Error('the database is external');
        const next = await startEmbeddedPostgres(pgOptions);
        // The supervisor's stop list still points at the first handle; route it to the new server.
        Object.assign(postgres, { stop: next.stop, pid: next.pid });
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * One supervisor per data directory: a second `shoal up` on it would end the first one's processes as leftovers.
 * The supervisor's own pid file is not a leftover (it is never ended, only checked).
 */
async function claimDataDir(pids: string): Promise<void> {
  const file = join(pids, SUPERVISOR);
  const other = await readFile(file, 'utf8').then((t) => Number(t.split(' ')[0]), () => undefined);
  if (other !== undefined && other !== process.pid && isRecordedProcess(file)) {
    throw new Error(`Shoal is already running on this data directory (supervisor pid ${other}); stop it first`);
  }
  recordPid(file, process.pid);
}

/**
 * The secret every API process derives runner call credentials from: generated once, kept in `<dataDir>/platform-secret`
 * (0600, the file the API itself would create), never stored in the database.
 */
async function ensurePlatformSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, 'platform-secret');
  try {
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await chmod(file, 0o600);
  return (await readFile(file, 'utf8')).trim();
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

async function registerRunner(apiUrl: string, apiKey: string, r: RunnerHandle): Promise<void> {
  const memoryGiB = Math.max(1, Math.floor(totalmem() / 2 ** 30));
  const res = await fetch(`${apiUrl}/runners`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      domain: r.domain,
      apiUrl: r.url,
      proxyUrl: r.url,
      apiKey: r.token,
      cpu: cpus().length,
      memoryGiB,
      diskGiB: 50,
      gpu: 0,
      gpuType: '',
      class: 'small',
      region: 'us',
      version: '0',
    }),
  });
  if (!res.ok) throw new Error(`registering runner ${r.domain} failed: HTTP ${res.status} ${await res.text()}`);
  await res.arrayBuffer().catch(() => undefined);
}

/** Asks a runner to pull (or, for the default image, build) an image; long-running on first start. */
export async function prepareImage(r: RunnerHandle, image: string): Promise<void> {
  const { request, Agent } = await import('undici');
  const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
  const res = await request(`${r.url}/snapshots/pull`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ snapshot: image }),
  });
  const text = await res.body.text();
  await dispatcher.close();
  if (res.statusCode >= 300) throw new Error(`runner could not prepare ${image}: HTTP ${res.statusCode} ${text}`);
}
