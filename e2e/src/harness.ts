/*
 * Starts a real Shoal platform (API and runner processes, PostgreSQL, registry) for one e2e test file.
 * Inside `npm test` the run-scoped PostgreSQL server, registry and default-image cache are shared between files
 * (SHOAL_TEST_DATABASE_URL, SHOAL_TEST_REGISTRY, SHOAL_IMAGE_CACHE_DIR); each file still gets its own database,
 * data directory, bridge and subnet, so files never see each other's state.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Daytona } from '@daytonaio/sdk';
import { portIsFree, startPlatform, type Platform, type PlatformOptions } from '@shoal/platform';
import { keepSeed, seedRunners, sharedDefaultImage } from './unpacked-image-seed.js';

export interface TestPlatform extends Platform {
  dataDir: string;
  sdk(apiKey?: string): Daytona;
  /** Stops every process (like Ctrl-C on `shoal up`) and starts the platform again on the same data and database. */
  restart(): Promise<TestPlatform>;
  /** Stops every process, drops the database and removes the data directory. */
  close(): Promise<void>;
}

function usedSecondOctets(): Set<number> {
  const used = new Set<number>();
  try {
    const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
    for (const m of routes.matchAll(/\b10\.(\d+)\./g)) used.add(Number(m[1]));
  } catch {
    // no iproute2: the runner will fail loudly anyway
  }
  return used;
}

/**
 * Subnet octets and API ports claimed by e2e files of this run (they run two at a time), so two files never pick the
 * same one: a directory per claim under the run's scratch directory. Without a scratch directory every claim succeeds.
 */
function claimPath(kind: 'subnet' | 'port', value: number): string | undefined {
  const scratch = process.env.SHOAL_TEST_SCRATCH;
  return scratch ? join(scratch, `${kind}-claims`, String(value)) : undefined;
}

function claim(kind: 'subnet' | 'port', value: number): boolean {
  const path = claimPath(kind, value);
  if (!path) return true;
  mkdirSync(join(path, '..'), { recursive: true });
  try {
    mkdirSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function release(kind: 'subnet' | 'port', value: number): void {
  const path = claimPath(kind, value);
  if (path) rmSync(path, { recursive: true, force: true });
}

export function releaseSubnetOctet(base: number, runners: number): void {
  for (let i = 0; i < runners; i++) release('subnet', base + i);
}

/**
 * A free 10.x.0.0/16 range per runner, x from 100 to 199: not routed on this host and not claimed by another e2e file
 * of the run (two files starting at once would both see the same octet free in the routing table).
 */
export function pickSubnetOctet(runners: number): number {
  const used = usedSecondOctets();
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 100 + Math.floor(Math.random() * (101 - runners));
    let ok = true;
    for (let i = 0; i < runners; i++) if (used.has(base + i)) ok = false;
    if (!ok) continue;
    const got: number[] = [];
    for (let i = 0; i < runners && ok; i++) {
      if (claim('subnet', base + i)) got.push(base + i);
      else ok = false;
    }
    if (ok) return base;
    for (const o of got) releaseSubnetOctet(o, 1);
  }
  throw new Error('no free 10.x.0.0/16 range for test runners');
}

/**
 * The API's port: below the kernel's ephemeral range (32768 and up), and claimed for the run like the subnets. A port
 * the kernel handed out stays free until the API binds it, seconds later; meanwhile the other file starting at the
 * same time could be handed the same one for one of its processes, and the wait for this API's /health was once
 * answered by that process (the start then failed on a database the API had not migrated yet). Files that start a
 * platform of their own (`startPlatform`, `shoal up`) take their port here too; like their subnet, the claim goes
 * with the run's scratch directory.
 */
export async function pickApiPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if ((await portIsFree(port)) && claim('port', port)) return port;
  }
  throw new Error('no free port below 32768 for a test API');
}

export interface TestPlatformOptions extends Partial<PlatformOptions> {
  /** Run an embedded PostgreSQL of the platform's own (fault tests kill it) instead of the run's shared server. */
  ownPostgres?: boolean;
}

export async function startTestPlatform(testOpts: TestPlatformOptions = {}): Promise<TestPlatform> {
  const { ownPostgres, ...opts } = testOpts;
  const scratch = process.env.SHOAL_TEST_SCRATCH ?? tmpdir();
  const dataDir = await mkdtemp(join(scratch, 'e2e-platform-'));
  await chmod(dataDir, 0o755);
  const id = randomBytes(2).toString('hex');
  let dropDatabase = async () => undefined as void;
  let databaseUrl: string | undefined;
  const server = ownPostgres ? undefined : process.env.SHOAL_TEST_DATABASE_URL;
  if (server) {
    const name = `shoal_e2e_${id}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(server);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  const runners = opts.runners ?? 1;
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 200) recent.shift();
  };
  const subnetOctet = opts.subnetOctet ?? pickSubnetOctet(runners);
  const options: PlatformOptions = {
    dataDir,
    apiPort: opts.apiPort ?? (await pickApiPort()),
    bridgePrefix: `sht${id}`,
    preferWellKnownPorts: false,
    subnetOctet,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(process.env.SHOAL_TEST_REGISTRY ? { registryAddress: process.env.SHOAL_TEST_REGISTRY } : {}),
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: process.env.SHOAL_TEST_VERBOSE ? (l) => console.log(l) : (l) => remember(l),
    ...opts,
    // No warm pool unless the file asks for one (SHOAL_WARM_POOL_SIZE in extraApiEnv): files that count sandboxes,
    // runner directories or start calls would see pooled ones, and each pool costs a CI run started sandboxes.
    extraApiEnv: { SHOAL_WARM_POOL_SIZE: '0', ...opts.extraApiEnv },
  };
  // The run's shared registry gives the default image one reference in every file, so its unpacked copy can be shared
  // (unpacked-image-seed.ts); a file with its own registry or uid base unpacks its own. Only runner 0 is seeded: a
  // second runner still pulls and unpacks from the registry, the path a second host takes.
  const runner0 = join(dataDir, 'runner');
  const sharedRef =
    options.registryAddress && `${options.registryAddress}/shoal/sandbox:0.1.0` === sharedDefaultImage() && !options.extraRunnerEnv?.SHOAL_RUNNER_UID_BASE
      ? sharedDefaultImage()
      : undefined;
  const start = async (): Promise<Platform> => {
    if (sharedRef && runners > 0) await seedRunners([runner0], sharedRef);
    const platform = await startPlatform(options);
    if (sharedRef && platform.defaultImage === sharedRef) await keepSeed(runner0, sharedRef);
    return platform;
  };
  const wrap = (platform: Platform): TestPlatform => ({
    ...platform,
    dataDir,
    sdk: (apiKey = platform.apiKey) => new Daytona({ apiUrl: platform.apiUrl, apiKey, target: 'us' }),
    restart: async () => {
      await platform.stop();
      return wrap(await start());
    },
    close: async () => {
      await platform.stop();
      if (opts.subnetOctet === undefined) releaseSubnetOctet(subnetOctet, runners);
      if (opts.apiPort === undefined) release('port', options.apiPort);
      await dropDatabase().catch(() => undefined);
      // A recursive delete would walk into anything still mounted below the data dir (a sandbox's disk image):
      // leave the directory for inspection instead, and say so.
      const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dataDir));
      if (mounted.length > 0) console.error(`[harness] ${mounted.length} mount(s) left below ${dataDir}; not removing it`);
      else await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    },
  });
  try {
    return wrap(await start());
  } catch (err) {
    // startPlatform has stopped what it started; what the harness made for it goes too.
    if (opts.subnetOctet === undefined) releaseSubnetOctet(subnetOctet, runners);
    if (opts.apiPort === undefined) release('port', options.apiPort);
    await dropDatabase().catch(() => undefined);
    // A start that fails in CI is otherwise undiagnosable: the processes' own lines are the only record of why.
    throw new Error(`${(err as Error).message}\n--- last ${recent.length} platform log lines ---\n${recent.join('\n')}`, { cause: err });
  }
}
