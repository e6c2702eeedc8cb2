import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { build } from '../src/app.js';
import { loadConfig, type RunnerConfig } from '../src/config.js';
import { createRunner, type Runner } from '../src/runner.js';
import { exec } from '../src/util/exec.js';
import { keepSeed, seedRunners, sharedDefaultImage } from '../../../e2e/src/unpacked-image-seed.js';

export const isRoot = process.getuid?.() === 0;

/**
 * The runner e2e tests drive crun, netns and mounts, which need root. Without it they fail (as a `before` hook) rather
 * than skip: a run that silently skipped the sandbox tier must not read as green.
 */
export function requireRoot(): void {
  if (!isRoot) throw new Error('the runner e2e tests need root (crun, network namespaces, mounts); run them as root');
}
export const TOKEN = 'test-runner-token';
const repoRoot = resolve(import.meta.dirname, '../../..');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The harness's registry, or a `docker-registry` (Debian's distribution build) on a free loopback port. */
export async function startRegistry(): Promise<{ host: string; stop: () => Promise<void> }> {
  // The e2e harness shares one registry across test files, so the default image is built and pushed only once.
  const shared = process.env.SHOAL_TEST_REGISTRY?.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (shared) return { host: shared, stop: async () => undefined };
  const dir = await mkdtemp(join(tmpdir(), 'shoal-registry-'));
  const port = await freePort();
  const cfg = join(dir, 'config.yml');
  await writeFile(
    cfg,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' });
  await waitFor(
    async () => {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      return r?.ok ? true : undefined;
    },
    10_000,
    'registry',
  );
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestRunner {
  url: string;
  cfg: Readonly<RunnerConfig>;
  runner: Runner;
  app: FastifyInstance;
  /** Stops serving (sandboxes keep running, as when the runner process restarts). */
  stop: () => Promise<void>;
}

/** Starts a real runner (real crun, network, disk) on a free port with the given data dir and bridge. */
export async function startRunner(env: Record<string, string>): Promise<TestRunner> {
  // The e2e files of one run share the unpacked default image (e2e/src/unpacked-image-seed.ts).
  const seedable = env.SHOAL_RUNNER_DATA_DIR && env.SHOAL_DEFAULT_IMAGE === sharedDefaultImage() && !env.SHOAL_RUNNER_UID_BASE;
  if (seedable) await seedRunners([env.SHOAL_RUNNER_DATA_DIR!], env.SHOAL_DEFAULT_IMAGE!);
  const cfg = loadConfig({
    SHOAL_RUNNER_TOKEN: TOKEN,
    SHOAL_RUNNER_PORT: '0',
    SHOAL_RUNNER_CGROUP_FIX: process.env.SHOAL_RUNNER_CGROUP_FIX ?? '1',
    SHOAL_IMAGE_CACHE_DIR: process.env.SHOAL_IMAGE_CACHE_DIR ?? '/var/tmp/shoal-image-cache',
    SHOAL_TOOLBOX_DIR: process.env.SHOAL_TOOLBOX_DIR ?? join(repoRoot, 'apps/toolbox/dist'),
    ...(process.env.SHOAL_TOOLBOX_SNAPSHOT ? { SHOAL_TOOLBOX_SNAPSHOT: process.env.SHOAL_TOOLBOX_SNAPSHOT } : {}),
    ...env,
  });
  const quiet = { info: () => undefined, warn: (m: string) => console.warn(`[runner] ${m}`) };
  const runner = await createRunner(cfg, process.env.SHOAL_TEST_VERBOSE ? { info: console.log, warn: console.warn } : quiet);
  const app = build({ token: cfg.token, version: cfg.version, sandboxes: runner.sandboxes, images: runner.images, metrics: runner.metrics });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cfg,
    runner,
    app,
    stop: async () => {
      await app.close();
      await runner.close();
    },
  };
}

/** Removes every trace of a test runner: sandboxes, nft table, bridge, data dir. */
export async function destroyRunner(t: TestRunner): Promise<void> {
  for (const s of t.runner.sandboxes.all()) await t.runner.sandboxes.remove(s.meta.id).catch(() => undefined);
  await t.stop().catch(() => undefined);
  await t.runner.network.removeHostState();
  await exec('umount', ['-R', join(t.cfg.dataDir, 'pool')], { allowFailure: true });
  const shared = sharedDefaultImage();
  // Seeds hold images unpacked into the default uid base (SHOAL_RUNNER_UID_BASE unset), like every platform runner.
  if (shared && t.cfg.defaultImage === shared && t.cfg.uidBase === 100000) await keepSeed(t.cfg.dataDir, shared);
  await rm(t.cfg.dataDir, { recursive: true, force: true });
  // Every hierarchy mounted here, the cgroup2 one of a hybrid host (`unified`) included: the runtime makes the parent
  // in each, and a fixed list left `unified/shoal_<bridge>` behind after every run.
  for (const ctrl of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    // A cgroup directory goes with rmdir(2) alone; its control files cannot be unlinked.
    await rmdir(`/sys/fs/cgroup/${ctrl}/shoal_${t.cfg.bridge}`).catch(() => undefined);
  }
}

export async function api(t: { url: string }, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(300_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { status: res.status, body: parsed };
}

export function sandboxBody(id: string, snapshot: string, over: Record<string, unknown> = {}) {
  return { id, userId: 'org-test', snapshot, osUser: 'daytona', cpuQuota: 1, gpuQuota: 0, memoryQuota: 1, storageQuota: 2, env: {}, ...over };
}

/** Runs a command as root inside the sandbox through the OCI runtime (independent of the toolbox). */
export async function crunExec(t: TestRunner, id: string, script: string, opts: { detach?: boolean } = {}) {
  // A detached process keeps the runtime's stdout; capturing it would wait for that process to exit.
  const devnull = opts.detach ? openSync('/dev/null', 'w') : undefined;
  try {
    return await exec(t.runner.backend.binary, ['--root', join(t.cfg.dataDir, 'oci'), 'exec', ...(opts.detach ? ['--detach'] : []), id, '/bin/sh', '-c', script], {
      allowFailure: true,
      outputFd: devnull,
    });
  } finally {
    if (devnull !== undefined) closeSync(devnull);
  }
}

/** Runs a command as the sandbox user through the toolbox, via the runner's proxy (the SDK's path). */
export async function toolboxExec(t: TestRunner, id: string, command: string, timeout = 60): Promise<{ exitCode: number; result: string }> {
  const r = await api(t, 'POST', `/sandboxes/${id}/toolbox/process/execute`, { command, timeout });
  if (r.status !== 200) throw new Error(`execute failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { exitCode: number; result: string };
}

/** Host resources a sandbox could leak. */
export async function hostCounts(bridge: string): Promise<Record<string, number>> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter(Boolean).length;
  const netns = (await readdir('/run/netns').catch(() => [])).length;
  const links = await exec('ip', ['-o', 'link', 'show', 'type', 'veth']);
  const veths = links.stdout.split('\n').filter(Boolean).length;
  let cgroups = 0;
  for (const ctrl of ['cpu', 'memory', 'pids']) cgroups += (await readdir(`/sys/fs/cgroup/${ctrl}/shoal_${bridge}`, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).length;
  let nftElements = 0;
  for (const set of ['open', 'allow']) {
    const nft = await exec('nft', ['-j', 'list', 'set', 'inet', `shoal_${bridge}`, set], { allowFailure: true });
    const parsed = nft.code === 0 ? (JSON.parse(nft.stdout) as { nftables: { set?: { elem?: unknown[] } }[] }) : { nftables: [] };
    for (const o of parsed.nftables) nftElements += o.set?.elem?.length ?? 0;
  }
  const loops = (await exec('losetup', ['-a'])).stdout.split('\n').filter(Boolean).length;
  return { mounts, netns, veths, cgroups, nftElements, loops };
}
