/*
 * `npm run bench`: starts a Shoal platform of its own, measures it through the official SDK and prints medians and
 * p99 beside floors that do the same work without Shoal, sampled interleaved with it in the same run (see
 * platform-bench.ts and oci-floor.ts for what each floor is). JSON and a Markdown table land in bench/results/.
 * Options: --quick (small sample counts), --skip-density, --skip-list-seed (lists with only the bench's own
 * sandboxes), --data-dir DIR.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daytona } from '@daytonaio/sdk';
import { freePort, startPlatform } from '@shoal/platform';
import { OciFloor, ociRuntimeName } from './oci-floor.js';
import {
  density,
  echoLatency,
  readThroughput,
  removeSeeded,
  seedSandboxes,
  timeToInteractive,
  TransferFloor,
  transferThroughput,
  waitAllDestroyed,
  type Row,
} from './platform-bench.js';
import { renderTable } from './report.js';

const args = process.argv.slice(2);
const flags = new Set(args);
const quick = flags.has('--quick');
const dataDirArg = args.includes('--data-dir') ? args[args.indexOf('--data-dir') + 1] : undefined;
const counts = quick
  ? { seq: 10, conc: 5, concRounds: 1, echo: 50, transferRepeats: 1, rpsSeconds: 3, density: 20, listSize: 1000 }
  : { seq: 40, conc: 10, concRounds: 2, echo: 200, transferRepeats: 3, rpsSeconds: 5, density: 50, listSize: 1000 };
const SUBNET_OCTET = 230;

async function main(): Promise<void> {
  const scratch = dataDirArg ?? (await mkdtemp(join(tmpdir(), 'shoal-bench-')));
  const dataDir = join(scratch, 'platform');
  const runnerDataDir = join(dataDir, 'runner');
  const started = Date.now();
  console.log(`bench: starting a platform in ${dataDir}${quick ? ' (quick mode)' : ''}`);
  const platform = await startPlatform({
    dataDir,
    apiPort: await freePort(),
    bridgePrefix: 'shbench',
    preferWellKnownPorts: false,
    subnetOctet: SUBNET_OCTET,
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: process.env.SHOAL_BENCH_VERBOSE ? (l) => console.log(l) : () => undefined,
  });
  const rows: Row[] = [];
  const notes: string[] = [];
  let floor: OciFloor | undefined;
  let transfer: TransferFloor | undefined;
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const auth = { authorization: `Bearer ${platform.apiKey}` };
    const orgs = (await (await fetch(`${platform.apiUrl}/organizations`, { headers: auth })).json()) as Array<{ id: string }>;
    // The bench org must hold the concurrent and density runs.
    await fetch(`${platform.apiUrl}/organizations/${orgs[0]!.id}/quota`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ totalCpuQuota: 10000, totalMemoryQuota: 100000, totalDiskQuota: 1000000 }),
    });
    const runtime = await ociRuntimeName();
    console.log(`bench: OCI runtime ${runtime}`);

    // The sandbox the single-sandbox rows use; its sizes are the floor's (the default snapshot's).
    const sandbox = await daytona.create();
    floor = new OciFloor({
      runnerDataDir,
      toolboxDir: fileURLToPath(new URL('../../apps/toolbox/dist', import.meta.url)),
      image: platform.defaultImage,
      scratchDir: join(scratch, 'floor'),
      imageUidBase: 100000,
      // Just past the runner's pool of 255 ranges ((octet+1) x 2^24): a range no sandbox of this host can hold.
      sandboxUidBase: (SUBNET_OCTET + 1) * 2 ** 24 + 255 * 65536,
      bridge: `shbf${process.pid % 100000}`,
      subnet: { base: '10.229.0.0', prefix: 24 },
      cpu: sandbox.cpu,
      memoryGiB: sandbox.memory,
      diskGiB: sandbox.disk,
    });
    await floor.init();
    if (!floor.diskEnforced) notes.push('No loop devices: neither the runner nor the floor used a sized disk image.');

    console.log('bench: time to interactive (SDK create() [+ executeCommand("node -v")] vs the OCI floor, interleaved)');
    const t = { daytona, apiUrl: platform.apiUrl, apiKey: platform.apiKey, runnerDataDir };
    rows.push(...(await timeToInteractive(t, floor, counts.seq, counts.conc, counts.concRounds)));

    console.log('bench: executeCommand latency');
    rows.push(await echoLatency(sandbox, counts.echo));

    console.log('bench: file transfer');
    const transferDir = join(scratch, 'transfer-floor');
    await mkdir(transferDir, { recursive: true });
    transfer = await TransferFloor.start(transferDir);
    rows.push(...(await transferThroughput(sandbox, transfer, 1, counts.transferRepeats * 3)));
    rows.push(...(await transferThroughput(sandbox, transfer, 100, counts.transferRepeats)));
    await transfer.stop();
    transfer = undefined;

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
      rows.push(...(await readThroughput(platform.apiUrl, platform.apiKey, sandbox.id, counts.rpsSeconds, inOrg, seeded)));
    } finally {
      if (seeded) await removeSeeded(platform.databaseUrl);
    }
    await sandbox.delete();

    if (!flags.has('--skip-density')) {
      console.log('bench: density');
      rows.push(...(await density(daytona, counts.density)));
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
  console.log('');
  console.log(table);
  for (const n of notes) console.log(`note: ${n}`);
  const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(resultsDir, `bench-${stamp}.json`);
  await writeFile(file, JSON.stringify({ quick, counts, runtime: await ociRuntimeName(), minutes, notes, rows }, null, 2));
  console.log(`\nbench: ${minutes.toFixed(1)} min; results written to ${file}`);
}

await main();
