/*
 * `npm run bench:warm-pool`: issue 15's "TTI, warm-pool hit" beside a cold create on the same platform. The platform
 * keeps a pool of the default snapshot (SHOAL_WARM_POOL_SIZE); a hit is `daytona.create()` (claims a pooled sandbox)
 * then `executeCommand('echo hi')`; the cold side is the same calls with `env` set, which a pooled sandbox cannot
 * serve (its toolbox started without it), so it starts a container like any create without a pool. Samples alternate
 * (hit, cold, ...); before each hit the pool is full again and every earlier sandbox is gone from the runner, and
 * teardown is never timed. Options: --samples N (default 20), --pool N (default 4).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daytona } from '@daytonaio/sdk';
import { freePort, startPlatform } from '@shoal/platform';
import { waitSandboxGone, type Row, type ShoalTarget } from './platform-bench.js';
import { renderTable } from './report.js';
import { interleave, summarize } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const samples = opt('--samples', 20);
const poolSize = opt('--pool', 4);
const GOAL = { p50: 25, p99: 60 };

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'shoal-bench-pool-'));
  const dataDir = join(scratch, 'platform');
  const platform = await startPlatform({
    dataDir,
    apiPort: await freePort(),
    bridgePrefix: 'shbpool',
    preferWellKnownPorts: false,
    subnetOctet: 228,
    extraApiEnv: { SHOAL_WARM_POOL_SIZE: String(poolSize), SHOAL_WARM_POOL_INTERVAL_MS: '200' },
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: () => undefined,
  });
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const t: ShoalTarget = { daytona, apiUrl: platform.apiUrl, apiKey: platform.apiKey, runnerDataDir: join(dataDir, 'runner') };
    const auth = { authorization: `Bearer ${platform.apiKey}` };
    const poolFull = async () => {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const pools = (await (await fetch(`${platform.apiUrl}/warm-pools`, { headers: auth })).json()) as { ready: number; size: number }[];
        if (pools.length > 0 && pools.every((p) => p.ready >= p.size)) return;
        if (Date.now() > deadline) throw new Error(`the pool did not fill: ${JSON.stringify(pools)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const sample = async (env?: Record<string, string>) => {
      await poolFull();
      const t0 = performance.now();
      const sb = await daytona.create(env ? { envVars: env } : {});
      const createdMs = performance.now() - t0;
      const r = await sb.process.executeCommand('echo hi');
      const interactiveMs = performance.now() - t0;
      if (r.exitCode !== 0 || r.result.trim() !== 'hi') throw new Error(`echo failed: ${r.result}`);
      await sb.delete();
      await waitSandboxGone(t, sb.id);
      return { createdMs, interactiveMs };
    };
    await sample();
    await sample({ BENCH: '1' });
    console.log(`bench: ${samples} x (pool hit, cold create) interleaved, pool of ${poolSize}`);
    const r = await interleave(samples, () => sample(), () => sample({ BENCH: '1' }));
    const rows: Row[] = [
      { name: 'create() -> started, warm-pool hit', unit: 'ms', value: summarize(r.first.map((s) => s.createdMs)), floor: summarize(r.second.map((s) => s.createdMs)), floorName: 'cold create (env set), same platform' },
      { name: "create()+executeCommand('echo hi'), warm-pool hit", unit: 'ms', value: summarize(r.first.map((s) => s.interactiveMs)), floor: summarize(r.second.map((s) => s.interactiveMs)), floorName: 'cold create (env set), same platform' },
    ];
    console.log(renderTable(rows));
    const hit = summarize(r.first.map((s) => s.interactiveMs));
    console.log(`warm-pool hit TTI p50 ${hit.p50.toFixed(1)} ms, p99 ${hit.p99.toFixed(1)} ms; goal ≤ ${GOAL.p50} / ${GOAL.p99} ms: ${hit.p50 <= GOAL.p50 && hit.p99 <= GOAL.p99 ? 'met' : 'not met'}`);
  } finally {
    await platform.stop();
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
