import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostAddresses, loadFloor, type FloorSettings } from './network/floor.js';
import { availableParallelism } from 'node:os';

export interface RunnerConfig {
  host: string;
  port: number;
  /** The runner's own token: it authenticates the runner to the API (stored there hashed) and the operator to the runner. */
  token: string;
  /**
   * What the API presents when it calls this runner (contracts `runnerCallToken` of the platform secret and the
   * token's hash); the API cannot call a runner without it. Unset: only `token` is accepted.
   */
  callToken: string | undefined;
  apiUrl: string | undefined;
  dataDir: string;
  /** Network address of the subnet, e.g. 10.210.0.0 with prefix 16. */
  subnet: { base: string; prefix: number };
  bridge: string;
  /** `auto` or a path to crun / runc / runsc. */
  ociRuntime: string;
  /** Allow the runner to move the cgroup2 `hugetlb` controller to a v1 mount so crun works on hybrid hosts. */
  allowCgroupFix: boolean;
  toolboxDir: string;
  /**
   * Sandboxes start the daemon from its startup snapshot when it loads (SHOAL_TOOLBOX_SNAPSHOT=1; default off): about
   * 10 ms faster to a first answer, about 3 MiB more memory per sandbox for its life (README "The cold path").
   */
  toolboxSnapshot: boolean;
  defaultImage: string;
  imageCacheDir: string | undefined;
  /**
   * The runner's credentials for Shoal's internal registry (the host of `defaultImage`), used for every pull from and
   * push to it; undefined when that registry is open.
   */
  internalRegistry: { username: string; password: string } | undefined;
  /** Host uid of root for sandboxes created before per-sandbox ranges; images are unpacked owned by this range. */
  uidBase: number;
  /** Per-sandbox host uid ranges: `ranges` x 65,536 ids from `base` (README "Containment"). */
  uidPool: { base: number; ranges: number };
  /** `auto` (a sized filesystem per sandbox when loop devices work) or `off`. */
  diskQuota: 'auto' | 'off';
  version: string;
  logLevel: string;
  /** OTLP/HTTP collector for traces (SHOAL_OTLP_ENDPOINT); unset: no tracing and the OpenTelemetry SDK is never loaded. */
  otlpEndpoint: string | undefined;
  stateSyncIntervalMs: number;
  /**
   * Sandbox starts (disk, mounts, network, container, toolbox) this runner runs at once; the rest wait their turn in
   * arrival order. A start is mostly CPU (the toolbox's Node.js start, spawns of ip/nft/mount), so more at once than
   * the host has cores only makes every one of them slower, until toolboxes miss their start timeout.
   */
  maxConcurrentStarts: number;
  /** Stop (not destroy) started sandboxes when the runner exits on SIGINT/SIGTERM; otherwise they keep running and are re-adopted. */
  stopSandboxesOnExit: boolean;
  /** Snapshot refs whose sandboxes run under the relaxed seccomp profile (README "Containment"); none by default. */
  unconfinedSnapshots: string[];
  /** The egress floor and the operator's network lists (network/floor.ts). */
  floor: FloorSettings;
  /** Volumes (README "Volumes"): where their files live and how sandboxes mount them. */
  volumes: VolumeConfig;
}

export interface VolumeConfig {
  /** `local` (this host's disk, one host) or `s3` (the object storage bucket through s3fs, several hosts). */
  driver: 'local' | 's3';
  /** local: shared by every runner of this host (default `<dataDir>/../volumes`). */
  dir: string;
  /** local: size of each volume's filesystem, GiB (fractions allowed). */
  sizeGiB: number;
  /** s3: SHOAL_S3_* (required with the s3 driver). */
  s3: { url: string; accessKey: string; secretKey: string; bucket: string; region: string } | undefined;
  /** s3: in-container uid/gid that owns the volume's files (the sandbox user's). */
  userId: number;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Parses the whole environment once and reports every invalid variable together. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<RunnerConfig> {
  const errors: string[] = [];
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      errors.push(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
      return def;
    }
    return n;
  };
  const token = env.SHOAL_RUNNER_TOKEN ?? '';
  if (!token) errors.push('SHOAL_RUNNER_TOKEN is required');
  const callToken = env.SHOAL_RUNNER_CALL_TOKEN || undefined;
  if (callToken !== undefined && callToken.length < 32) errors.push('SHOAL_RUNNER_CALL_TOKEN must be at least 32 characters');

  const subnetRaw = env.SHOAL_RUNNER_SUBNET || '10.210.0.0/16';
  const subnet = parseSubnet(subnetRaw);
  if (!subnet) errors.push(`SHOAL_RUNNER_SUBNET must be an IPv4 CIDR with prefix 16..24, got "${subnetRaw}"`);
  else if (overlaps(subnet, { base: '10.88.0.0', prefix: 16 })) errors.push('SHOAL_RUNNER_SUBNET must not overlap 10.88.0.0/16 (buildah/CNI)');

  const bridge = env.SHOAL_RUNNER_BRIDGE || 'shoal0';
  if (!/^[a-zA-Z][a-zA-Z0-9_]{0,10}$/.test(bridge)) errors.push(`SHOAL_RUNNER_BRIDGE must match [a-zA-Z][a-zA-Z0-9_]{0,10}, got "${bridge}"`);

  const apiUrl = env.SHOAL_RUNNER_API_URL ? env.SHOAL_RUNNER_API_URL.replace(/\/+$/, '') : undefined;
  if (apiUrl && !/^https?:\/\//.test(apiUrl)) errors.push(`SHOAL_RUNNER_API_URL must be an http(s) URL, got "${apiUrl}"`);

  const diskQuota = env.SHOAL_RUNNER_DISK_QUOTA || 'auto';
  if (diskQuota !== 'auto' && diskQuota !== 'off') errors.push('SHOAL_RUNNER_DISK_QUOTA must be auto or off');

  const defaultImage = env.SHOAL_DEFAULT_IMAGE || '127.0.0.1:5100/shoal/sandbox:0.1.0';
  const floor = loadFloor(
    { env, subnet: subnet ?? { base: '10.210.0.0', prefix: 16 }, apiUrl, defaultImage, hostAddresses: hostAddresses() },
    errors,
  );

  const uidBase = int('SHOAL_RUNNER_UID_BASE', 100000, 1000, 2 ** 31 - 65536);
  const uidPool = loadUidPool(env, subnet, uidBase, errors);

  const cfg: RunnerConfig = {
    host: env.SHOAL_RUNNER_HOST || '127.0.0.1',
    port: int('SHOAL_RUNNER_PORT', 3003, 0, 65535),
    token,
    callToken,
    apiUrl,
    dataDir: resolve(env.SHOAL_RUNNER_DATA_DIR || join(repoRoot, '.shoal/runner')),
    subnet: subnet ?? { base: '10.210.0.0', prefix: 16 },
    bridge,
    ociRuntime: env.SHOAL_RUNNER_OCI_RUNTIME || 'auto',
    allowCgroupFix: ['1', 'true', 'yes'].includes((env.SHOAL_RUNNER_CGROUP_FIX ?? '').toLowerCase()),
    toolboxDir: resolve(env.SHOAL_TOOLBOX_DIR || join(repoRoot, 'apps/toolbox/dist')),
    toolboxSnapshot: ['1', 'true', 'yes'].includes((env.SHOAL_TOOLBOX_SNAPSHOT ?? '').toLowerCase()),
    defaultImage,
    imageCacheDir: env.SHOAL_IMAGE_CACHE_DIR ? resolve(env.SHOAL_IMAGE_CACHE_DIR) : undefined,
    internalRegistry: loadInternalRegistry(env, errors),
    uidBase,
    uidPool,
    diskQuota: diskQuota === 'off' ? 'off' : 'auto',
    version: '0.1.0',
    logLevel: env.SHOAL_RUNNER_LOG_LEVEL || 'info',
    otlpEndpoint: env.SHOAL_OTLP_ENDPOINT || undefined,
    stateSyncIntervalMs: int('SHOAL_RUNNER_STATE_SYNC_MS', 10_000, 500, 3_600_000),
    maxConcurrentStarts: int('SHOAL_RUNNER_MAX_CONCURRENT_STARTS', Math.max(2, availableParallelism()), 1, 1024),
    stopSandboxesOnExit: ['1', 'true', 'yes'].includes((env.SHOAL_RUNNER_STOP_SANDBOXES_ON_EXIT ?? '').toLowerCase()),
    unconfinedSnapshots: (env.SHOAL_RUNNER_UNCONFINED_SNAPSHOTS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    floor,
    volumes: loadVolumes(env, resolve(env.SHOAL_RUNNER_DATA_DIR || join(repoRoot, '.shoal/runner')), errors),
  };
  if (errors.length) throw new Error(`Invalid runner configuration:\n  - ${errors.join('\n  - ')}`);
  return Object.freeze(cfg);
}

function loadVolumes(env: NodeJS.ProcessEnv, dataDir: string, errors: string[]): VolumeConfig {
  const driver = env.SHOAL_VOLUME_DRIVER || 'local';
  if (driver !== 'local' && driver !== 's3') errors.push(`SHOAL_VOLUME_DRIVER must be local or s3, got "${driver}"`);
  const sizeRaw = env.SHOAL_VOLUME_SIZE_GIB || '10';
  const sizeGiB = Number(sizeRaw);
  if (!Number.isFinite(sizeGiB) || sizeGiB < 1 / 16 || sizeGiB > 8192) errors.push(`SHOAL_VOLUME_SIZE_GIB must be a number in [0.0625, 8192], got "${sizeRaw}"`);
  const userRaw = env.SHOAL_VOLUME_S3_UID || '1000';
  const userId = Number(userRaw);
  if (!Number.isInteger(userId) || userId < 0 || userId > 65535) errors.push(`SHOAL_VOLUME_S3_UID must be an integer in [0, 65535], got "${userRaw}"`);
  let s3: VolumeConfig['s3'];
  if (driver === 's3') {
    if (!env.SHOAL_S3_URL || !env.SHOAL_S3_ACCESS_KEY || !env.SHOAL_S3_SECRET_KEY) {
      errors.push('SHOAL_VOLUME_DRIVER=s3 needs SHOAL_S3_URL, SHOAL_S3_ACCESS_KEY and SHOAL_S3_SECRET_KEY');
    } else {
      s3 = {
        url: env.SHOAL_S3_URL.replace(/\/+$/, ''),
        accessKey: env.SHOAL_S3_ACCESS_KEY,
        secretKey: env.SHOAL_S3_SECRET_KEY,
        bucket: env.SHOAL_S3_BUCKET || 'shoal-builds',
        region: env.SHOAL_S3_REGION || 'us-east-1',
      };
    }
  }
  return {
    driver: driver === 's3' ? 's3' : 'local',
    dir: resolve(env.SHOAL_VOLUMES_DIR || join(dataDir, '..', 'volumes')),
    sizeGiB: Number.isFinite(sizeGiB) ? sizeGiB : 10,
    s3,
    userId: Number.isInteger(userId) ? userId : 1000,
  };
}

function loadInternalRegistry(env: NodeJS.ProcessEnv, errors: string[]): RunnerConfig['internalRegistry'] {
  const username = env.SHOAL_RUNNER_REGISTRY_USERNAME || '';
  const password = env.SHOAL_RUNNER_REGISTRY_PASSWORD || '';
  if (!username && !password) return undefined;
  if (!username || !password) {
    errors.push('SHOAL_RUNNER_REGISTRY_USERNAME and SHOAL_RUNNER_REGISTRY_PASSWORD must be set together');
    return undefined;
  }
  return { username, password };
}

/**
 * The runner's pool of per-sandbox uid ranges. By default it follows the subnet's second octet N (runners on one
 * host already need distinct subnets): 255 ranges from (N+1) x 2^24, so runners on 10.N.0.0 and 10.M.0.0 never share
 * an id. The highest usable id is 2^32-2 (2^32-1 is the kernel's "no id").
 */
function loadUidPool(
  env: NodeJS.ProcessEnv,
  subnet: { base: string } | undefined,
  uidBase: number,
  errors: string[],
): { base: number; ranges: number } {
  const size = 65536;
  const second = Number((subnet?.base ?? '10.210.0.0').split('.')[1]);
  const parse = (name: string, def: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) errors.push(`${name} must be a positive integer, got "${raw}"`);
    return Number.isInteger(n) && n >= 1 ? n : def;
  };
  const base = parse('SHOAL_RUNNER_UID_POOL_BASE', (second + 1) * 2 ** 24);
  const ranges = parse('SHOAL_RUNNER_UID_POOL_RANGES', 255);
  const end = base + ranges * size; // first id past the pool
  if (base % size !== 0) errors.push(`SHOAL_RUNNER_UID_POOL_BASE must be a multiple of 65536, got ${base}`);
  else if (end - 1 > 2 ** 32 - 2) {
    errors.push(
      `the uid pool (SHOAL_RUNNER_UID_POOL_BASE=${base}, SHOAL_RUNNER_UID_POOL_RANGES=${ranges}) must end at or below 4294967294; ` +
        'set a lower base or fewer ranges',
    );
  } else if (base < uidBase + size && uidBase < end) {
    errors.push(`the uid pool [${base}, ${end}) must not overlap SHOAL_RUNNER_UID_BASE's range [${uidBase}, ${uidBase + size}) (images are unpacked into it)`);
  }
  return { base, ranges };
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseIpv4(s: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
  return m.slice(1).map(Number).join('.');
}

export function parseSubnet(s: string, minPrefix = 16, maxPrefix = 24): { base: string; prefix: number } | undefined {
  const [ip, p] = s.trim().split('/');
  const addr = ip ? parseIpv4(ip) : undefined;
  const prefix = Number(p);
  if (!addr || !Number.isInteger(prefix) || prefix < minPrefix || prefix > maxPrefix) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: intToIp((ipToInt(addr) & mask) >>> 0), prefix };
}

function overlaps(a: { base: string; prefix: number }, b: { base: string; prefix: number }): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = (0xffffffff << (32 - p)) >>> 0;
  return ((ipToInt(a.base) & mask) >>> 0) === ((ipToInt(b.base) & mask) >>> 0);
}
