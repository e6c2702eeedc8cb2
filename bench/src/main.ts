/*
 * `npm run bench`: starts a Shoal platform of its own, measures it through the official SDK and prints medians and
 * p99 beside floors that do the same work without Shoal, sampled interleaved with it in the same run (see
 * platform-bench.ts and oci-floor.ts for what each floor is), then issue 15's goals table (goals.ts): each goal with
 * the figure this run measured and whether it is met. JSON (both tables) and the output land in bench/results/.
 * Rows that need the warm pool (pool, burst) run first; every other row runs with the pool drained, so that a cold
 * figure never measures a claim.
 * Options: --quick (small sample counts), --only pool,burst,cold,docker,echo,transfer,api,density (default: all),
 * --skip-density, --skip-list-seed (lists with only the bench's own sandboxes), --data-dir DIR.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daytona } from '@daytonaio/sdk';
import { freePort, startPlatform } from '@shoal/platform';
import { recipeKey } from '../../apps/runner/src/images/default-image.js';
import { goalRows, renderGoals, type GoalInputs } from './goals.js';
import { OciFloor, ociRuntimeName } from './oci-floor.js';
import {
  burst,
  density,
  dockerDaemonRuns,
  echoLatency,
  readThroughput,
  removeSeeded,
  seedSandboxes,
  timeToInteractive,
  TransferFloor,
  transferThroughput,
  versusDocker,
  waitAllDestroyed,
  warmPoolHit,
  WarmPools,
  type Row,
  type ShoalTarget,
} from './platform-bench.js';
import { renderTable } from './report.js';
import type { Summary } from './stats.js';

const args = process.argv.slice(2);
const flags = new Set(args);
const quick = flags.has('--quick');
const dataDirArg = args.includes('--data-dir') ? args[args.indexOf('--data-dir') + 1] : undefined;
const counts = quick
  ? { seq: 10, conc: 5, concRounds: 1, echo: 50, transferRepeats: 1, rpsSeconds: 3, density: 20, listSize: 1000, pool: 4, poolSamples: 5, burstPool: 10, burstDefault: 20, docker: 5 }
  : { seq: 40, conc: 10, concRounds: 2, echo: 200, transferRepeats: 3, rpsSeconds: 5, density: 500, listSize: 1000, pool: 4, poolSamples: 20, burstPool: 50, burstDefault: 100, docker: 20 };
const STEPS = ['pool', 'burst', 'cold', 'docker', 'echo', 'transfer', 'api', 'density'] as const;
const onlyArg = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const only = onlyArg ? new Set(onlyArg.split(',').map((s) => s.trim())) : undefined;
for (const o of only ?? []) if (!(STEPS as readonly string[]).includes(o)) throw new Error(`--only: unknown step ${o} (steps: ${STEPS.join(', ')})`);
const want = (step: (typeof STEPS)[number]) => (only ? only.has(step) : !(step === 'density' && flags.has('--skip-density')));
const notRun = (step: (typeof STEPS)[number]) => ({ skipped: only ? `${step} not in --only ${onlyArg}` : '--skip-density' });
const SUBNET_OCTET = 230;
/**
 * Host uid ranges of the bench's runner, one per sandbox (SHOAL_RUNNER_UID_POOL_RANGES, default 255): a runner holds
 * at most that many sandboxes, so the density run needs more than the default.
 */
const UID_RANGES = Math.max(255, counts.density + 20);

async function main(): Promise<void> {
  const scratch = dataDirArg ?? (await mkdtemp(join(tmpdir(), 'shoal-bench-')));
  const dataDir = join(scratch, 'platform');
  const runnerDataDir = join(dataDir, 'runner');
  const started = Date.now();
  console.log(`bench: starting a platform in ${dataDir}${quick ? ' (quick mode)' : ''}${only ? ` (only ${[...only].join(', ')})` : ''}`);
  const platform = await startPlatform({
    dataDir,
    apiPort: await freePort(),
    bridgePrefix: 'shbench',
    preferWellKnownPorts: false,
    subnetOctet: SUBNET_OCTET,
    // The pool's size is left to its default (a pool of the default snapshot) and set by the rows through the admin
    // API; a short top-up interval only shortens the waits for a full pool.
    extraApiEnv: { SHOAL_WARM_POOL_INTERVAL_MS: '200' },
    extraRunnerEnv: { SHOAL_RUNNER_UID_POOL_RANGES: String(UID_RANGES) },
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: process.env.SHOAL_BENCH_VERBOSE ? (l) => console.log(l) : () => undefined,
  });
  const rows: Row[] = [];
  const notes: string[] = [];
  const goals: GoalInputs = {
    warmHit: notRun('pool'),
    cold: notRun('cold'),
    docker: notRun('docker'),
    burst50: notRun('burst'),
    burst100: notRun('burst'),
    echo: notRun('echo'),
    transfer: notRun('transfer'),
    getRps: notRun('api'),
    density: notRun('density'),
  };
  let floor: OciFloor | undefined;
  let transfer: TransferFloor | undefined;
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const auth = { authorization: `Bearer ${platform.apiKey}` };
    const orgs = (await (await fetch(`${platform.apiUrl}/organizations`, { headers: auth })).json()) as Array<{ id: string }>;
    // The bench org must hold the bursts and the density run (500 sandboxes of the default snapshot's size).
    const quota = await fetch(`${platform.apiUrl}/organizations/${orgs[0]!.id}/quota`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ totalCpuQuota: 10000, totalMemoryQuota: 100000, totalDiskQuota: 1000000 }),
    });
    if (!quota.ok) throw new Error(`PATCH quota: ${quota.status} ${await quota.text()}`);
    const runtime = await ociRuntimeName();
    console.log(`bench: OCI runtime ${runtime}`);
    const t: ShoalTarget = { daytona, apiUrl: platform.apiUrl, apiKey: platform.apiKey, runnerDataDir, runnerUrl: platform.runners[0]!.url };
    const pools = new WarmPools(t, platform.defaultSnapshot);
    const defaultPool = await pools.waitDefault();
    console.log(`bench: default warm pool of ${defaultPool.size} ready`);

    if (want('pool')) {
      console.log(`bench: warm-pool hit (create()+executeCommand('echo hi') from a pool of ${counts.pool}) vs cold, ${counts.poolSamples} each, interleaved`);
      const r = await warmPoolHit(t, pools, counts.poolSamples, counts.pool);
      rows.push(...r.rows);
      goals.warmHit = { value: { tti: r.hit, misses: r.misses } };
    }
    if (want('burst')) {
      console.log(`bench: burst of ${counts.burstPool} concurrent creates from a full pool of ${counts.burstPool}`);
      await pools.drain();
      await pools.fill(counts.burstPool);
      const b50 = await burst(t, counts.burstPool, counts.burstPool);
      rows.push(b50.row);
      goals.burst50 = { value: b50.result };
      if (counts.burstPool !== 50) notes.push(`Burst from a full pool: ${counts.burstPool} creates from a pool of ${counts.burstPool} (--quick), the goal is for 50.`);
      console.log(`bench: burst of ${counts.burstDefault} concurrent creates with the default pool (${defaultPool.size})`);
      await pools.drain();
      await pools.fill(defaultPool.size);
      const b100 = await burst(t, counts.burstDefault, defaultPool.size);
      rows.push(b100.row);
      goals.burst100 = { value: b100.result };
      // Not a goal: the same burst when every caller also runs a first command, so a create that answers sooner by
      // leaving its toolbox's start for later cannot look better than it is.
      await pools.drain();
      await pools.fill(defaultPool.size);
      rows.push((await burst(t, counts.burstDefault, defaultPool.size, true)).row);
      if (counts.burstDefault !== 100) notes.push(`Burst with the default pool: ${counts.burstDefault} creates (--quick), the goal is for 100.`);
    }
    // From here on no pooled sandbox exists: every create is cold and nothing is filled in the background.
    await pools.drain();

    // The sandbox the single-sandbox rows use; its sizes are the floor's (the default snapshot's).
    const sandbox = await daytona.create();
    if (want('cold')) {
      floor = new OciFloor({
        runnerDataDir,
        toolboxDir: fileURLToPath(new URL('../../apps/toolbox/dist', import.meta.url)),
        image: platform.defaultImage,
        scratchDir: join(scratch, 'floor'),
        imageUidBase: 100000,
        // Just past the runner's pool of UID_RANGES ranges ((octet+1) x 2^24): a range no sandbox of this host can hold.
        sandboxUidBase: (SUBNET_OCTET + 1) * 2 ** 24 + UID_RANGES * 65536,
        bridge: `shbf${process.pid % 100000}`,
        subnet: { base: '10.229.0.0', prefix: 24 },
        cpu: sandbox.cpu,
        memoryGiB: sandbox.memory,
        diskGiB: sandbox.disk,
      });
      await floor.init();
      if (!floor.diskEnforced) notes.push('No loop devices: neither the runner nor the floor used a sized disk image.');

      console.log('bench: time to interactive, pool drained (SDK create() [+ executeCommand("node -v")] vs the OCI floor, interleaved)');
      const tti = await timeToInteractive(t, floor, counts.seq, counts.conc, counts.concRounds);
      rows.push(...tti);
      const seqInteractive = tti[1]!;
      goals.cold = { value: { shoal: seqInteractive.value as Summary, floor: seqInteractive.floor as Summary } };
      await floor.close();
      floor = undefined;
    }

    if (want('docker')) {
      const tar = defaultImageTar();
      if (!(await dockerDaemonRuns())) goals.docker = { skipped: 'no Docker daemon' };
      else if (!tar) goals.docker = { skipped: 'no unpacked default image to import: set SHOAL_IMAGE_CACHE_DIR' };
      else {
        // A user's create() gets the default pool; the goal is measured that way, and beside it with the pool drained.
        console.log(`bench: time to interactive vs a Docker Engine on the same root filesystem, alternating: default warm pool (${defaultPool.size}), then pool drained`);
        const pooled = await versusDocker(t, tar, counts.docker, { pools, size: defaultPool.size });
        await pools.drain();
        const cold = await versusDocker(t, tar, counts.docker);
        rows.push(pooled.row, cold.row);
        goals.docker = { value: { shoal: pooled.shoal, docker: pooled.docker, pool: defaultPool.size, claims: pooled.claims, n: counts.docker, drained: { shoal: cold.shoal, docker: cold.docker } } };
      }
    }

    if (want('echo')) {
      console.log('bench: executeCommand latency');
      const socket = join(runnerDataDir, 'run', `${sandbox.id}.sock`);
      const runner = platform.runners[0]!;
      const hops = existsSync(socket) ? { runnerUrl: runner.url, runnerToken: runner.token, toolboxSocket: socket } : undefined;
      if (!hops) notes.push(`echo: no toolbox socket at ${socket}, so no per-hop figures`);
      const echo = await echoLatency(sandbox, counts.echo, t, hops);
      rows.push(echo);
      goals.echo = { value: echo.value as Summary };
    }

    if (want('transfer')) {
      console.log('bench: file transfer');
      const transferDir = join(scratch, 'transfer-floor');
      await mkdir(transferDir, { recursive: true });
      transfer = await TransferFloor.start(transferDir);
      rows.push(...(await transferThroughput(sandbox, transfer, 1, counts.transferRepeats * 3)));
      const big = await transferThroughput(sandbox, transfer, 100, counts.transferRepeats);
      rows.push(...big);
      const p50 = (v: Summary | number | undefined) => (typeof v === 'object' ? v.p50 : (v ?? NaN));
      goals.transfer = {
        value: { upload: { shoal: p50(big[0]!.value), floor: p50(big[0]!.floor) }, download: { shoal: p50(big[1]!.value), floor: p50(big[1]!.floor) } },
      };
      await transfer.stop();
      transfer = undefined;
    }

    if (want('api')) {
      console.log('bench: API read throughput');
      let seeded = 0;
      if (!flags.has('--skip-list-seed')) {
        seeded = await seedSandboxes(platform.databaseUrl, sandbox.id, counts.listSize);
        notes.push(
          `List rows: ${seeded} of the ${counts.listSize} sandboxes are stopped rows inserted into PostgreSQL (copies of an API-created row, ` +
            'labelled and deleted afterwards); 1,000 real creates (each a disk image, overlay, namespace and toolbox) do not fit this run.',
        );
      }
      const inOrg = ((await (await fetch(`${platform.apiUrl}/sandbox`, { headers: auth })).json()) as unknown[]).length;
      try {
        const api = await readThroughput(platform.apiUrl, platform.apiKey, sandbox.id, counts.rpsSeconds, inOrg, seeded);
        rows.push(...api);
        goals.getRps = { value: api[0]!.value as number };
      } finally {
        if (seeded) await removeSeeded(platform.databaseUrl);
      }
    }
    await sandbox.delete();

    if (want('density')) {
      console.log(`bench: density (up to ${counts.density} idle sandboxes, each after one executeCommand('true'))`);
      const d = await density(t, counts.density);
      rows.push(...d.rows);
      goals.density = { value: { cap: counts.density, count: d.count, mibEach: d.mibEach, ...(d.failure ? { failure: d.failure } : {}) } };
    }
    const left = await waitAllDestroyed(platform.apiUrl, platform.apiKey, 600_000);
    if (left > 0) console.log(`bench: ${left} sandbox(es) were still being destroyed when the platform stopped`);
  } finally {
    await transfer?.stop().catch(() => undefined);
    await floor?.close().catch(() => undefined);
    await platform.stop();
    // Never delete recursively through a sandbox disk that is still mounted.
    if (readFileSync('/proc/self/mountinfo', 'utf8').includes(scratch)) console.log(`bench: mounts left below ${scratch}; not removing it`);
    else if (!dataDirArg) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
  const minutes = (Date.now() - started) / 60000;
  const table = renderTable(rows);
  const goalTable = goalRows(goals);
  console.log('');
  console.log(table);
  for (const n of notes) console.log(`note: ${n}`);
  console.log('');
  console.log(renderGoals(goalTable));
  const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(resultsDir, `bench-${stamp}.json`);
  await writeFile(file, JSON.stringify({ quick, only: only ? [...only] : undefined, counts, runtime: await ociRuntimeName(), minutes, notes, rows, goals: goalTable }, null, 2));
  console.log(`\nbench: ${minutes.toFixed(1)} min; results written to ${file}`);
}

/** The image cache's tar of the default image's root filesystem (the one the runner unpacks), if the run has one. */
function defaultImageTar(): string | undefined {
  const dir = process.env.SHOAL_IMAGE_CACHE_DIR;
  if (!dir) return undefined;
  const tar = join(dir, `shoal-sandbox-${recipeKey()}.tar`);
  return existsSync(tar) ? tar : undefined;
}

await main();
