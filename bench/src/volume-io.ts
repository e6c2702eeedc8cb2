/*
 * Volumes (issue 13): MB/s writing and reading a 256 MiB file on a local-driver volume beside the same on the
 * sandbox's own disk (the floor: the sandbox's overlay on its sized ext4 image), and `POST /sandboxes` with a volume
 * beside the same without one. Samples are interleaved (volume, own disk, volume, ...) so both see the same host load;
 * reads follow a host page-cache drop, so they come from the disk. Throughput is dd's own figure (its elapsed time,
 * not the toolbox round trip), as the sandbox user through the toolbox.
 * Needs root. Run: npm run bench:volumes -- [samples]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { api, destroyRunner, sandboxBody, startRegistry, startRunner, toolboxExec, type TestRunner } from '../../apps/runner/test/helpers.js';
import { fmt, summarize, timed } from './stats.js';

const samples = Number(process.argv[2] ?? 5);
const MIB = 256;

async function sh(t: TestRunner, id: string, script: string): Promise<string> {
  const r = await toolboxExec(t, id, `sh -c '${script}'`, 300);
  if (r.exitCode !== 0) throw new Error(`${script}: ${r.result}`);
  return r.result;
}

/** MiB/s from dd's summary line ("... copied, 0.52 s, 516 MB/s"). */
function ddRate(out: string): number {
  const m = /copied, ([\d.]+) s/.exec(out);
  if (!m) throw new Error(`no dd summary in: ${out}`);
  return MIB / Number(m[1]);
}

async function dropCaches(): Promise<void> {
  await writeFile('/proc/sys/vm/drop_caches', '3');
}

const registry = await startRegistry();
const image = `${registry.host}/shoal/sandbox:0.1.0`;
const dataDir = await mkdtemp('/var/tmp/shoal-runner-bench-vol-');
const volumesDir = `${dataDir}-volumes`;
const t = await startRunner({
  SHOAL_RUNNER_DATA_DIR: dataDir,
  SHOAL_RUNNER_BRIDGE: 'shlbvol',
  SHOAL_RUNNER_SUBNET: '10.242.0.0/16',
  SHOAL_DEFAULT_IMAGE: image,
  SHOAL_VOLUMES_DIR: volumesDir,
  SHOAL_VOLUME_SIZE_GIB: '2',
});
try {
  const pulled = await api(t, 'POST', '/snapshots/pull', { snapshot: image });
  if (pulled.status !== 200) throw new Error(`pull failed: ${JSON.stringify(pulled.body)}`);
  const volumes = [{ volumeId: 'bench-vol', mountPath: '/home/daytona/volume' }];
  const created = await api(t, 'POST', '/sandboxes', sandboxBody('bench-io', image, { storageQuota: 3, volumes }));
  if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`);

  const rate = { volWrite: [] as number[], diskWrite: [] as number[], volRead: [] as number[], diskRead: [] as number[] };
  const dirs = { vol: '/home/daytona/volume', disk: '/home/daytona' };
  for (let i = 0; i < samples; i++) {
    for (const where of ['vol', 'disk'] as const) {
      const f = `${dirs[where]}/io.bin`;
      rate[`${where}Write`].push(ddRate(await sh(t, 'bench-io', `dd if=/dev/zero of=${f} bs=1M count=${MIB} conv=fsync 2>&1`)));
      await dropCaches();
      rate[`${where}Read`].push(ddRate(await sh(t, 'bench-io', `dd if=${f} of=/dev/null bs=1M 2>&1`)));
      await sh(t, 'bench-io', `rm -f ${f}`);
    }
  }
  await api(t, 'DELETE', '/sandboxes/bench-io');

  // create(): the first create of a volume makes its filesystem; the rows measure the steady case (volume exists).
  const withVol: number[] = [];
  const without: number[] = [];
  const creates = Math.max(samples * 2, 10);
  for (let i = 0; i < creates; i++) {
    const [a, ra] = await timed(() => api(t, 'POST', '/sandboxes', sandboxBody(`bench-v${i}`, image, { volumes })));
    if (ra.status !== 201) throw new Error(`create failed: ${JSON.stringify(ra.body)}`);
    await api(t, 'DELETE', `/sandboxes/bench-v${i}`);
    const [b, rb] = await timed(() => api(t, 'POST', '/sandboxes', sandboxBody(`bench-n${i}`, image)));
    if (rb.status !== 201) throw new Error(`create failed: ${JSON.stringify(rb.body)}`);
    await api(t, 'DELETE', `/sandboxes/bench-n${i}`);
    withVol.push(a);
    without.push(b);
  }

  const row = (name: string, s: number[], floor: number[]) => {
    const a = summarize(s);
    const f = summarize(floor);
    console.log(`| ${name} | ${fmt(a.p50)} | ${fmt(a.p99)} | ${fmt(f.p50)} | ${fmt(f.p99)} | ${(a.p50 / f.p50).toFixed(2)} |`);
  };
  console.log(`\nvolumes, local driver: ${samples} interleaved samples of a ${MIB} MiB file (MiB/s; floor = the sandbox's own disk)`);
  console.log('| measurement | volume p50 | volume p99 | own disk p50 | own disk p99 | ratio |');
  console.log('|---|---|---|---|---|---|');
  // For throughput the "p99" is the slowest-percentile rate: the 1st percentile of MiB/s.
  const low = (s: number[]) => s.map((x) => -x);
  const rateRow = (name: string, s: number[], floor: number[]) => {
    const a = summarize(low(s));
    const f = summarize(low(floor));
    console.log(`| ${name} | ${fmt(-a.p50)} | ${fmt(-a.p99)} | ${fmt(-f.p50)} | ${fmt(-f.p99)} | ${(a.p50 / f.p50).toFixed(2)} |`);
  };
  rateRow('write 256 MiB (dd conv=fsync), MiB/s', rate.volWrite, rate.diskWrite);
  rateRow('read 256 MiB after a cache drop, MiB/s', rate.volRead, rate.diskRead);
  console.log(`\ncreate -> toolbox ready, ${creates} interleaved samples (ms)`);
  console.log('| measurement | with volume p50 | p99 | without p50 | p99 | ratio |');
  console.log('|---|---|---|---|---|---|');
  row('POST /sandboxes', withVol, without);
  await api(t, 'DELETE', '/volumes/bench-vol');
} finally {
  await destroyRunner(t);
  await registry.stop();
  await rm(volumesDir, { recursive: true, force: true });
}
