/*
 * The raw floor for "create a sandbox and run `node -v` in it": the same unpacked image, an overlay upper layer, the same
 * namespaces, uid mapping and cgroup limits, run by the same OCI runtime binary the runner chose — and nothing of Shoal
 * (no API, no reconciler, no network setup, no toolbox). Shoal's time-to-interactive is reported as a ratio of this.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chooseRuntime } from '../../apps/runner/src/runtime/detect.js';
import { clampedRlimits, sandboxSpec } from '../../apps/runner/src/runtime/spec.js';
import { ImageStore } from '../../apps/runner/src/images/image-store.js';
import { ensureTraversable } from '@shoal/platform';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stdout.resume();
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}

export interface FloorOptions {
  runnerDataDir: string;
  image: string;
  scratchDir: string;
  uidBase?: number;
}

export async function ociRuntimeName(): Promise<string> {
  return (await chooseRuntime('auto', false)).binary;
}

/** One floor sample in milliseconds: overlay mount + `<runtime> run` of `node -v` + teardown. */
export async function floorSample(opts: FloorOptions, n: number): Promise<number> {
  const runtime = await ociRuntimeName();
  const lower = new ImageStore({ dataDir: opts.runnerDataDir, uidBase: opts.uidBase ?? 100000, defaultImage: opts.image, imageCacheDir: undefined, log: () => undefined }).lowerDir(ImageStore.keyOf(opts.image));
  const dir = await mkdtemp(join(opts.scratchDir, 'floor-'));
  // The runtime sets up the rootfs as the user namespace's root (an unprivileged uid on the host): it must reach the bundle.
  await ensureTraversable(dir);
  const id = `shoal-floor-${process.pid}-${n}`;
  const rlimits = await clampedRlimits();
  const t0 = performance.now();
  for (const d of ['upper', 'work', 'rootfs']) await mkdir(join(dir, d));
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, join(dir, 'rootfs')]);
  try {
    const spec = sandboxSpec({
      id,
      rootfs: join(dir, 'rootfs'),
      args: ['node', '-v'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      netnsPath: '',
      uidBase: opts.uidBase ?? 100000,
      cgroupsPath: `/shoal-floor/${id}`,
      cpu: 1,
      memoryGiB: 1,
      pidsLimit: 1024,
      rlimits,
      binds: [],
    }) as { linux: { namespaces: Array<{ type: string; path?: string }> } };
    // A fresh, empty network namespace: the runtime alone, without Shoal's bridge, veth and nftables work.
    spec.linux.namespaces = spec.linux.namespaces.map((ns) => (ns.type === 'network' ? { type: 'network' } : ns));
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
    await run(runtime, ['--root', join(dir, 'state'), 'run', '--bundle', dir, id]);
  } finally {
    await run('umount', [join(dir, 'rootfs')]).catch(() => undefined);
  }
  const ms = performance.now() - t0;
  await rm(dir, { recursive: true, force: true });
  return ms;
}
