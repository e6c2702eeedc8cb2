import type { RunnerConfig } from '../../config.js';
import type { ImageStore } from '../image-store.js';
import { DEFAULT_CONTEXT_LIMITS } from '../build-context.js';
import { contextFetcher, objectStorageFromEnv } from '../build-context-fetch.js';
import { BuildNetwork } from '../build-network.js';
import { Builder } from '../builder.js';

const RANGE = 65536;

/** Build settings (SHOAL_RUNNER_BUILD_*), parsed here so the runner's config stays about sandboxes. */
export interface BuildSettings {
  concurrency: number;
  cpus: number;
  memoryBytes: number;
  subnet: { base: string; prefix: number };
  uidBase: number;
}

export function loadBuildSettings(env: NodeJS.ProcessEnv, cfg: Readonly<RunnerConfig>): BuildSettings {
  const num = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    const n = raw === undefined || raw === '' ? def : Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}], got "${raw}"`);
    return n;
  };
  const second = Number(cfg.subnet.base.split('.')[1]);
  const subnetRaw = env.SHOAL_RUNNER_BUILD_SUBNET || `172.31.${second}.0/24`;
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnetRaw);
  if (!m || Number(m[2]) < 16 || Number(m[2]) > 28) throw new Error(`SHOAL_RUNNER_BUILD_SUBNET must be an IPv4 CIDR /16../28, got "${subnetRaw}"`);
  // One range just past the sandbox pool: with the default pool (255 ranges) it is the gap before the next runner's pool.
  const uidBase = num('SHOAL_RUNNER_BUILD_UID_BASE', cfg.uidPool.base + cfg.uidPool.ranges * RANGE, 1000, 2 ** 32 - 1 - RANGE);
  return {
    concurrency: num('SHOAL_RUNNER_BUILD_CONCURRENCY', 1, 1, 64),
    cpus: num('SHOAL_RUNNER_BUILD_CPUS', 2, 0.1, 256),
    memoryBytes: num('SHOAL_RUNNER_BUILD_MEMORY_MIB', 2048, 64, 1024 * 1024) * 1024 ** 2,
    subnet: { base: m[1]!, prefix: Number(m[2]) },
    uidBase,
  };
}

/** The runner's builder: buildah with the runner's runtime, a build bridge under the sandboxes' egress floor. */
export async function createBuilder(
  cfg: Readonly<RunnerConfig>,
  runtime: string,
  images: ImageStore,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ builder: Builder; network: BuildNetwork }> {
  const s = loadBuildSettings(env, cfg);
  let taken = false;
  const network = new BuildNetwork(cfg.bridge, s.subnet, cfg.floor, {
    // Builds share one range of their own (never a sandbox's, never host root).
    allocate: () => (taken && s.concurrency === 1 ? undefined : ((taken = true), s.uidBase)),
    release: () => {
      taken = false;
    },
  });
  const internalHost = cfg.defaultImage.split('/')[0] ?? '';
  const builder = new Builder({
    dataDir: cfg.dataDir,
    runtime,
    cgroupParent: `shoal_${cfg.bridge}_builds`,
    concurrency: s.concurrency,
    cpus: s.cpus,
    memoryBytes: s.memoryBytes,
    internalRegistry: {
      host: internalHost,
      // The runner's own credentials on the internal registry (set by the platform; unset for an open test registry).
      ...(env.SHOAL_RUNNER_REGISTRY_USERNAME ? { username: env.SHOAL_RUNNER_REGISTRY_USERNAME, password: env.SHOAL_RUNNER_REGISTRY_PASSWORD ?? '' } : {}),
    },
    acquireSlot: (policy) => network.acquire(policy),
    fetchContexts: contextFetcher(objectStorageFromEnv(env), DEFAULT_CONTEXT_LIMITS.maxBytes),
    ensureImage: (ref) => images.ensure(ref),
    logPath: (ref) => images.logPath(ref),
    log,
  });
  await builder.init();
  return { builder, network };
}

