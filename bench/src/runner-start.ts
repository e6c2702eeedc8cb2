/*
 * Runner start latency over 30 sandboxes: `POST /sandboxes` (answered once the container runs), then the toolbox's
 * first answer and first command through the runner's proxy (a request sent before the daemon listens waits in its
 * socket's backlog), printed beside the raw floor measured in the same run: `crun run` of the same image with the same
 * mounts and limits, no network setup and no toolbox (the process is /bin/true). The log line names how the daemon
 * starts (SHOAL_TOOLBOX_SNAPSHOT=1: from its startup snapshot rather than its bundle).
 * Needs root. Run: node --import tsx bench/src/runner-start.ts [count]
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clampedRlimits, sandboxSpec } from '../../apps/runner/src/runtime/spec.js';
import { exec } from '../../apps/runner/src/util/exec.js';
import { launchMetrics } from '../../apps/runner/src/metrics/launch-metrics.js';
import { api, destroyRunner, sandboxBody, startRegistry, startRunner, toolboxExec } from '../../apps/runner/test/helpers.js';
import { fmt, summarize, timed } from './stats.js';

const count = Number(process.argv[2] ?? 30);

const registry = await startRegistry();
const image = `${registry.host}/shoal/sandbox:0.1.0`;
const t = await startRunner({
  SHOAL_RUNNER_DATA_DIR: await mkdtemp('/var/tmp/shoal-runner-bench-'),
  SHOAL_RUNNER_BRIDGE: 'shlbnc',
  SHOAL_RUNNER_SUBNET: '10.233.0.0/16',
  SHOAL_DEFAULT_IMAGE: image,
});
try {
  console.log(`runtime: ${t.runner.backend.name}; ${t.runner.toolboxStart}; preparing ${image} ...`);
  const pulled = await api(t, 'POST', '/snapshots/pull', { snapshot: image });
  if (pulled.status !== 200) throw new Error(`pull failed: ${JSON.stringify(pulled.body)}`);

  // Warm-up (first start pays page-cache misses for the node runtime and the image).
  await api(t, 'POST', '/sandboxes', sandboxBody('bench-warm', image));
  await api(t, 'DELETE', '/sandboxes/bench-warm');

  // Each launch's steps as the runner timed them (the runner runs in this process).
  const steps: Record<'prepare' | 'runtime' | 'toolbox', number[]> = { prepare: [], runtime: [], toolbox: [] };
  const record = launchMetrics.recordLaunch.bind(launchMetrics);
  launchMetrics.recordLaunch = (id, t0, tPrepared, tRunning, tBoot, tReady) => {
    if (!id.startsWith('bench-warm')) {
      steps.prepare.push(tPrepared - t0);
      steps.runtime.push(tRunning - tPrepared);
      steps.toolbox.push(tReady - tBoot);
    }
    record(id, t0, tPrepared, tRunning, tBoot, tReady);
  };
  const create: number[] = [];
  const ready: number[] = [];
  const firstExec: number[] = [];
  const teardown: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await api(t, 'POST', '/sandboxes', sandboxBody(`bench-${i}`, image));
    if (r.status !== 201) throw new Error(`create failed: ${JSON.stringify(r.body)}`);
    create.push(performance.now() - t0);
    const v = await api(t, 'GET', `/sandboxes/bench-${i}/toolbox/version`);
    if (v.status !== 200) throw new Error(`toolbox version: HTTP ${v.status} ${JSON.stringify(v.body)}`);
    ready.push(performance.now() - t0);
    const e = await toolboxExec(t, `bench-${i}`, 'true');
    if (e.exitCode !== 0) throw new Error(`first command: ${JSON.stringify(e)}`);
    firstExec.push(performance.now() - t0);
    const [td] = await timed(() => api(t, 'DELETE', `/sandboxes/bench-${i}`));
    teardown.push(td);
  }

  // The raw floor: same lower dir, a fresh overlay, the same spec generator (mounts, namespaces, cgroup limits).
  const rec = t.runner.images.get(image)!;
  const floorDir = join(t.cfg.dataDir, 'floor');
  const bundle = join(floorDir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['upper', 'work', 'etc']) await mkdir(join(floorDir, d), { recursive: true });
  await mkdir(rootfs, { recursive: true });
  await exec('chown', [`${t.cfg.uidBase}:${t.cfg.uidBase}`, join(floorDir, 'upper')]);
  for (const f of ['resolv.conf', 'hosts', 'hostname']) await writeFile(join(floorDir, 'etc', f), '');
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${t.runner.images.lowerDir(rec.key)},upperdir=${floorDir}/upper,workdir=${floorDir}/work`, rootfs]);
  const spec = sandboxSpec({
    id: 'floor',
    rootfs,
    args: ['/bin/true'],
    env: ['PATH=/usr/bin:/bin'],
    netnsPath: '',
    // A network namespace of its own (below), whose sysfs the floor's /bin/true never reads.
    sysfs: '/sys',
    uidBase: t.cfg.uidBase,
    cgroupsPath: `/shoal_${t.cfg.bridge}/floor`,
    cpu: 1,
    memoryGiB: 1,
    pidsLimit: 1024,
    rlimits: await clampedRlimits(),
    binds: [
      { source: t.cfg.toolboxDir, destination: '/.shoal/toolbox', readonly: true },
      { source: join(t.cfg.dataDir, 'node-runtime'), destination: '/.shoal/node', readonly: true },
      { source: join(t.cfg.dataDir, 'shoal-bin'), destination: '/.shoal/bin', readonly: true },
      ...['resolv.conf', 'hosts', 'hostname'].map((f) => ({ source: join(floorDir, 'etc', f), destination: `/etc/${f}`, readonly: true })),
    ],
  }) as { linux: { namespaces: { type: string; path?: string }[] } };
  spec.linux.namespaces = spec.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network' } : n));
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  const floor: number[] = [];
  const root = join(t.cfg.dataDir, 'oci');
  for (let i = 0; i < count + 1; i++) {
    const [ms] = await timed(() => exec(t.runner.backend.binary, ['--root', root, 'run', '--bundle', bundle, `floor-${i}`]));
    await exec(t.runner.backend.binary, ['--root', root, 'delete', '--force', `floor-${i}`], { allowFailure: true });
    if (i > 0) floor.push(ms);
  }
  await exec('umount', [rootfs]);

  const c = summarize(create);
  const rd = summarize(ready);
  const fe = summarize(firstExec);
  const f = summarize(floor);
  const d = summarize(teardown);
  console.log(`\nrunner start (${t.runner.backend.name}), ${count} sandboxes, sequential`);
  console.log('| measurement | p50 ms | p99 ms |');
  console.log('|---|---|---|');
  console.log(`| POST /sandboxes: create -> container runs | ${fmt(c.p50)} | ${fmt(c.p99)} |`);
  console.log(`| create -> toolbox answers GET /version | ${fmt(rd.p50)} | ${fmt(rd.p99)} |`);
  console.log(`| create -> first command (\`true\`) done | ${fmt(fe.p50)} | ${fmt(fe.p99)} |`);
  for (const [step, what] of [
    ['prepare', 'network namespace, overlay, /etc files, OCI spec'],
    ['runtime', `${t.runner.backend.name} run until the container runs`],
    ['toolbox', 'toolbox daemon start until it answers'],
  ] as const) {
    const s = summarize(steps[step]);
    console.log(`| &nbsp; of which ${step}: ${what} | ${fmt(s.p50)} | ${fmt(s.p99)} |`);
  }
  console.log(`| raw floor: ${t.runner.backend.name} run /bin/true, same image + mounts, no toolbox | ${fmt(f.p50)} | ${fmt(f.p99)} |`);
  console.log(`| DELETE /sandboxes/:id (remove everything) | ${fmt(d.p50)} | ${fmt(d.p99)} |`);
} finally {
  await destroyRunner(t);
  await registry.stop();
}
