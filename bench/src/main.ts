/*
 * `npm run bench`: starts a Shoal platform of its own, measures it through the official SDK and prints a table of
 * medians and tail latencies beside the raw floors measured in the same run; the JSON lands in bench/results/.
 * Options: --quick (small sample counts), --skip-density, --data-dir DIR.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daytona } from '@daytonaio/sdk';
import { freePort, startPlatform } from '@shoal/platform';
import { floorSample, ociRuntimeName } from './oci-floor.js';
import { density, echoLatency, readThroughput, timeToInteractive, transferThroughput, waitAllDestroyed, type Row } from './platform-bench.js';
import { fmt, summarize, type Summary } from './stats.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const counts = quick
  ? { seq: 10, conc: 5, floor: 10, echo: 50, transferRepeats: 1, rpsSeconds: 3, density: 20 }
  : { seq: 100, conc: 50, floor: 100, echo: 500, transferRepeats: 3, rpsSeconds: 10, density: 300 };

function isSummary(v: Summary | number): v is Summary {
  return typeof v === 'object';
}

function printRows(rows: Row[]): void {
  const header = ['benchmark', 'unit', 'p50', 'p95', 'p99', 'floor p50', 'floor p99', 'ratio p50', 'floor'];
  const lines = rows.map((r) => {
    const v = r.value;
    const f = r.floor;
    const p50 = isSummary(v) ? v.p50 : v;
    const fp50 = f === undefined ? undefined : isSummary(f) ? f.p50 : f;
    const ratio = fp50 === undefined ? '' : r.unit === 'ms' ? `${(p50 / fp50).toFixed(2)}x` : `${(p50 / fp50).toFixed(2)}x`;
    return [
      r.name,
      r.unit,
      fmt(p50),
      isSummary(v) ? fmt(v.p95) : '',
      isSummary(v) ? fmt(v.p99) : '',
      fp50 === undefined ? '' : fmt(fp50),
      f !== undefined && isSummary(f) ? fmt(f.p99) : '',
      ratio,
      r.floorName ?? '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmtLine = (l: string[]) => l.map((c, i) => (i < 2 || i === 8 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(fmtLine(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmtLine(l));
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'shoal-bench-'));
  const dataDir = join(scratch, 'platform');
  console.log(`bench: starting a platform in ${dataDir}${quick ? ' (quick mode)' : ''}`);
  const platform = await startPlatform({
    dataDir,
    apiPort: await freePort(),
    bridgePrefix: 'shbench',
    preferWellKnownPorts: false,
    subnetOctet: 230,
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: process.env.SHOAL_BENCH_VERBOSE ? (l) => console.log(l) : () => undefined,
  });
  const rows: Row[] = [];
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const orgs = (await (await fetch(`${platform.apiUrl}/organizations`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()) as Array<{ id: string }>;
    // The bench org must hold the concurrent and density runs.
    await fetch(`${platform.apiUrl}/organizations/${orgs[0]!.id}/quota`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ totalCpuQuota: 10000, totalMemoryQuota: 100000, totalDiskQuota: 1000000 }),
    });
    console.log(`bench: OCI runtime ${await ociRuntimeName()}`);

    console.log('bench: time to interactive (SDK create() + executeCommand("node -v"))');
    const tti = await timeToInteractive(daytona, counts.seq, counts.conc);
    const floor: number[] = [];
    for (let i = 0; i < counts.floor; i++) {
      floor.push(await floorSample({ runnerDataDir: join(dataDir, 'runner'), image: platform.defaultImage, scratchDir: scratch }, i));
    }
    const floorSummary = summarize(floor);
    for (const r of tti) rows.push({ ...r, floor: floorSummary, floorName: 'OCI runtime alone: overlay + run node -v' });

    const sandbox = await daytona.create();
    console.log('bench: executeCommand latency');
    rows.push(await echoLatency(sandbox, counts.echo));
    console.log('bench: file transfer');
    rows.push(...(await transferThroughput(sandbox, 1, counts.transferRepeats * 3)));
    rows.push(...(await transferThroughput(sandbox, 100, counts.transferRepeats)));
    console.log('bench: API read throughput');
    rows.push(...(await readThroughput(platform.apiUrl, platform.apiKey, sandbox.id, counts.rpsSeconds)));
    await sandbox.delete();

    if (!args.has('--skip-density')) {
      console.log('bench: density');
      rows.push(...(await density(daytona, counts.density)));
    }
    const left = await waitAllDestroyed(platform.apiUrl, platform.apiKey, 600_000);
    if (left > 0) console.log(`bench: ${left} sandbox(es) were still being destroyed when the platform stopped`);
  } finally {
    await platform.stop();
    // Never delete recursively through a sandbox disk that is still mounted.
    if (readFileSync('/proc/self/mountinfo', 'utf8').includes(scratch)) console.log(`bench: mounts left below ${scratch}; not removing it`);
    else await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
  console.log('');
  printRows(rows);
  const resultsDir = new URL('../results/', import.meta.url).pathname;
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ quick, counts, rows }, null, 2));
  console.log(`\nbench: results written to ${file}`);
}

await main();
