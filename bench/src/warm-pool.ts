/*
 * `npm run bench:warm-pool`: issue 15's "TTI, warm-pool hit" alone (the same row `npm run bench` prints, from
 * platform-bench.ts's warmPoolHit): create() + executeCommand('echo hi') claimed from the default snapshot's pool, sized
 * through the admin API and full before each sample, alternating with the same calls with the pool drained (a cold
 * create). Every earlier sandbox is gone from the runner before a sample, and teardown is never timed.
 * Options: --samples N (default 20), --pool N (default 4).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daytona } from '@daytonaio/sdk';
import { freePort, startPlatform } from '@shoal/platform';
import { goalRows, renderGoals } from './goals.js';
import { warmPoolHit, WarmPools, type ShoalTarget } from './platform-bench.js';
import { renderTable } from './report.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const samples = opt('--samples', 20);
const poolSize = opt('--pool', 4);

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'shoal-bench-pool-'));
  const dataDir = join(scratch, 'platform');
  const platform = await startPlatform({
    dataDir,
    apiPort: await freePort(),
    bridgePrefix: 'shbpool',
    preferWellKnownPorts: false,
    subnetOctet: 228,
    extraApiEnv: { SHOAL_WARM_POOL_INTERVAL_MS: '200' },
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: () => undefined,
  });
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const t: ShoalTarget = { daytona, apiUrl: platform.apiUrl, apiKey: platform.apiKey, runnerDataDir: join(dataDir, 'runner') };
    const pools = new WarmPools(t, platform.defaultSnapshot);
    await pools.waitDefault();
    console.log(`bench: ${samples} x (pool hit, cold create) interleaved, pool of ${poolSize}`);
    const r = await warmPoolHit(t, pools, samples, poolSize);
    console.log(renderTable(r.rows));
    const skipped = { skipped: 'not part of bench:warm-pool' };
    const goals = goalRows({
      warmHit: { value: { tti: r.hit, misses: r.misses } },
      cold: skipped,
      docker: skipped,
      burst50: skipped,
      burst100: skipped,
      echo: skipped,
      transfer: skipped,
      getRps: skipped,
      density: skipped,
    });
    console.log('');
    console.log(renderGoals(goals.slice(0, 1)));
  } finally {
    await platform.stop();
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
