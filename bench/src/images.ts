/*
 * `npm run bench:images`: issue 11's image benchmark, each row beside a floor doing the same work, the two sampled
 * interleaved in the same run (a sample and its teardown finish before the next sample starts; teardown untimed).
 *
 * 1. Pull + unpack of a ~300 MB image by a runner alone: `POST /snapshots/pull` (resolve, skopeo copy to an OCI
 *    layout, layer scan, umoci unpack into the runner's uid range, sanitising) then `POST /snapshots/remove`, beside
 *    `skopeo copy docker://… oci:…` + `umoci unpack` with the same uid map. The image is made here: the busybox base of
 *    the e2e tests plus three layers of 100 MB of random bytes (incompressible, so ~300 MB on the wire and on disk),
 *    pushed to a registry this bench starts on loopback.
 * 2. Builds through a platform of its own and the official SDK: cold = `snapshot.create` of
 *    `Image.base(<the default Debian image>).runCommands(<a new nonce>)` (new build info) until active; cached = the
 *    same build info again under another name. Cold floor: the same Dockerfile with buildah alone (vfs storage,
 *    --layers, chroot isolation, base image from the same registry with the runner's registry login), pushed to the
 *    organization's project of the same registry, then copied out and unpacked as in row 1: the work the runner does for a build (build,
 *    push, unpack) without the API, the queue, the build network, the user namespace and the cgroup. Cached floor: one
 *    authenticated `GET /snapshots/{name}` (what the API must at least do to answer). One cold build per side runs first
 *    untimed, so both buildah stores hold the base image, as the runner's does after its first build.
 *
 * Needs root, docker-registry, skopeo, umoci, buildah. Options: --pulls N (default 5), --builds N (default 3),
 * --skip-pull, --skip-build. Not part of `npm test`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Daytona, Image } from '@daytonaio/sdk';
import { RUNNER_REGISTRY_USERNAME } from '@shoal/contracts';
import { freePort, startPlatform } from '@shoal/platform';
import { pushBusyboxImage } from '../../e2e/src/busybox-image.js';
import { api as runnerApi, destroyRunner, startRegistry, startRunner } from '../../apps/runner/test/helpers.js';
import type { Row } from './platform-bench.js';
import { renderTable } from './report.js';
import { interleave, summarize, timed } from './stats.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const num = (flag: string, dflt: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : dflt);
const pulls = num('--pulls', 5);
const builds = num('--builds', 3);
const LAYER_MB = 100;
const LAYERS = 3;

async function sh(cmd: string, argv: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  await run(cmd, argv, { maxBuffer: 64 * 1024 * 1024, ...(env ? { env: { ...process.env, ...env } } : {}) });
}

/** busybox + LAYERS layers of LAYER_MB random bytes each, pushed as `ref`. */
async function pushBigImage(work: string, ref: string): Promise<void> {
  const base = join(work, 'base');
  await mkdir(base, { recursive: true });
  const baseRef = `${ref}-base`;
  await pushBusyboxImage(base, baseRef, ['/bin/sh']);
  const oci = join(work, 'oci');
  await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${baseRef}`, `oci:${oci}:img`]);
  for (let i = 0; i < LAYERS; i++) {
    const dir = join(work, `layer-${i}`);
    await mkdir(join(dir, 'data'), { recursive: true });
    await sh('sh', ['-c', `head -c ${LAYER_MB}M /dev/urandom > ${join(dir, 'data', `random-${i}.bin`)}`]);
    await sh('tar', ['-C', dir, '-cf', join(work, `layer-${i}.tar`), 'data']);
    await sh('umoci', ['raw', 'add-layer', '--image', `${oci}:img`, join(work, `layer-${i}.tar`)]);
    await rm(dir, { recursive: true, force: true });
    await rm(join(work, `layer-${i}.tar`), { force: true });
  }
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:img`, `docker://${ref}`]);
  await rm(oci, { recursive: true, force: true });
}

async function pullBench(rows: Row[], notes: string[]): Promise<void> {
  const work = await mkdtemp('/var/tmp/shoal-bench-images-');
  const registry = await startRegistry();
  let t: Awaited<ReturnType<typeof startRunner>> | undefined;
  try {
    const ref = `${registry.host}/bench/big:1`;
    console.log(`bench: building a ${LAYERS * LAYER_MB} MB image and pushing it to ${registry.host}`);
    await pushBigImage(join(work, 'image'), ref);
    t = await startRunner({
      SHOAL_RUNNER_DATA_DIR: join(work, 'runner'),
      SHOAL_RUNNER_BRIDGE: 'shlbimg',
      SHOAL_RUNNER_SUBNET: '10.234.0.0/16',
      SHOAL_DEFAULT_IMAGE: `${registry.host}/shoal/sandbox:not-used`,
    });
    const runner = t;
    const map = `0:${runner.cfg.uidBase}:65536`;
    console.log(`bench: pull + unpack, ${pulls} x (runner, floor) interleaved`);
    const { first, second } = await interleave(
      pulls,
      async () => {
        const [ms, r] = await timed(() => runnerApi(runner, 'POST', '/snapshots/pull', { snapshot: ref }));
        if (r.status !== 200) throw new Error(`runner pull failed: ${JSON.stringify(r.body)}`);
        const removed = await runnerApi(runner, 'POST', `/snapshots/remove?snapshot=${encodeURIComponent(ref)}`);
        if (removed.status >= 300) throw new Error(`runner remove failed: ${JSON.stringify(removed.body)}`);
        return ms;
      },
      async (i) => {
        const dir = join(work, `floor-${i}`);
        await mkdir(dir, { recursive: true });
        const [ms] = await timed(async () => {
          await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(dir, 'oci')}:img`]);
          await sh('umoci', ['unpack', '--uid-map', map, '--gid-map', map, '--image', `${join(dir, 'oci')}:img`, join(dir, 'bundle')]);
        });
        await rm(dir, { recursive: true, force: true });
        return ms;
      },
    );
    rows.push({
      name: `pull + unpack ${LAYERS * LAYER_MB} MB image (runner POST /snapshots/pull)`,
      unit: 'ms',
      value: summarize(first),
      floor: summarize(second),
      floorName: 'skopeo copy docker:// oci: + umoci unpack',
    });
    notes.push(`Pull image: busybox + ${LAYERS} layers of ${LAYER_MB} MB random bytes from docker-registry on loopback (no TLS, no auth).`);
  } finally {
    if (t) await destroyRunner(t);
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function buildBench(rows: Row[], notes: string[]): Promise<void> {
  const scratch = await mkdtemp('/var/tmp/shoal-bench-builds-');
  console.log(`bench: starting a platform in ${scratch}`);
  const platform = await startPlatform({
    dataDir: join(scratch, 'platform'),
    apiPort: await freePort(),
    bridgePrefix: 'shbimg',
    preferWellKnownPorts: false,
    subnetOctet: 232,
    ...(process.env.SHOAL_IMAGE_CACHE_DIR ? { imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR } : {}),
    log: process.env.SHOAL_BENCH_VERBOSE ? (l) => console.log(l) : () => undefined,
  }).catch(async (err: unknown) => {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  });
  const floorRoot = join(scratch, 'floor');
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const auth = { authorization: `Bearer ${platform.apiKey}` };
    const access = (await (await fetch(`${platform.apiUrl}/docker-registry/registry-push-access`, { headers: auth })).json()) as {
      username: string;
      secret: string;
      registryUrl: string;
      project: string;
    };
    const host = access.registryUrl.replace(/^https?:\/\//, '');
    await mkdir(floorRoot, { recursive: true });
    const authFile = join(floorRoot, 'auth.json');
    // The runner's own registry login: an organization's push-access login may not read Shoal's default image, the
    // runner's may (it is what the runner's builds and pulls use too).
    const runnerLogin = `${RUNNER_REGISTRY_USERNAME}:${platform.runners[0]!.token}`;
    await writeFile(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from(runnerLogin).toString('base64') } } }));
    const policy = join(floorRoot, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const store = ['--root', join(floorRoot, 'graph'), '--runroot', join(floorRoot, 'run'), '--storage-driver', 'vfs'];
    const uidBase = 100000;
    const map = `0:${uidBase}:65536`;

    const image = (nonce: string) => Image.base(platform.defaultImage).runCommands(`echo ${nonce} > /bench-nonce`);
    const shoalCold = async (name: string, nonce: string) => {
      const log: string[] = [];
      try {
        const [ms] = await timed(() => daytona.snapshot.create({ name, image: image(nonce) }, { onLogs: (l) => log.push(l) }));
        return ms;
      } catch (err) {
        // The reason alone rarely says why a step failed; the end of the build log does.
        console.log(log.slice(-40).join('\n'));
        throw err;
      }
    };
    const floorCold = async (i: string, nonce: string) => {
      const dir = join(floorRoot, `build-${i}`);
      await mkdir(join(dir, 'ctx'), { recursive: true });
      await writeFile(join(dir, 'Dockerfile'), image(nonce).dockerfile);
      const target = `${host}/${access.project}/bench-floor:${i}`;
      const [ms] = await timed(async () => {
        await sh('buildah', [...store, 'build', '--isolation', 'chroot', '--layers', '--tls-verify=false', '--authfile', authFile, '--signature-policy', policy, '--format', 'oci', '-f', join(dir, 'Dockerfile'), '-t', target, join(dir, 'ctx')]);
        await sh('buildah', [...store, 'push', '--tls-verify=false', '--authfile', authFile, '--signature-policy', policy, target, `docker://${target}`]);
        await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--authfile', authFile, `docker://${target}`, `oci:${join(dir, 'oci')}:img`]);
        await sh('umoci', ['unpack', '--uid-map', map, '--gid-map', map, '--image', `${join(dir, 'oci')}:img`, join(dir, 'bundle')]);
      });
      await sh('buildah', [...store, 'rmi', target]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      return ms;
    };
    const removeSnapshot = async (name: string) => {
      const s = await daytona.snapshot.get(name);
      await daytona.snapshot.delete(s);
      for (let k = 0; k < 600; k++) {
        const r = await fetch(`${platform.apiUrl}/snapshots/${encodeURIComponent(name)}`, { headers: auth });
        if (r.status === 404) return;
        await new Promise((res) => setTimeout(res, 500));
      }
    };

    console.log('bench: warm-up build on each side (base image into both buildah stores; untimed)');
    await shoalCold('bench-warm', `warm-${randomBytes(8).toString('hex')}`);
    await floorCold('warm', `warm-${randomBytes(8).toString('hex')}`);
    await removeSnapshot('bench-warm');

    console.log(`bench: cold builds, ${builds} x (Shoal, floor) interleaved`);
    const nonces: string[] = [];
    const cold = await interleave(
      builds,
      (i) => {
        nonces[i] = randomBytes(8).toString('hex');
        return shoalCold(`bench-cold-${i}`, nonces[i]!);
      },
      (i) => floorCold(String(i), randomBytes(8).toString('hex')),
    );
    console.log(`bench: cached builds, ${builds} x (Shoal, floor) interleaved`);
    const cached = await interleave(
      builds,
      async (i) => {
        const [ms, snap] = await timed(() => daytona.snapshot.create({ name: `bench-cached-${i}`, image: image(nonces[i]!) }));
        if (snap.state !== 'active') throw new Error(`cached create ended ${snap.state}`);
        return ms;
      },
      async (i) => {
        const [ms, r] = await timed(() => fetch(`${platform.apiUrl}/snapshots/bench-cached-${i}`, { headers: auth }).then((x) => x.json()));
        if ((r as { state?: string }).state !== 'active') throw new Error('floor GET did not find the snapshot');
        return ms;
      },
    );
    for (let i = 0; i < builds; i++) {
      await removeSnapshot(`bench-cached-${i}`);
      await removeSnapshot(`bench-cold-${i}`);
    }
    rows.push({
      name: 'cold build: snapshot.create(Image.base(default).runCommands(new))',
      unit: 'ms',
      value: summarize(cold.first),
      floor: summarize(cold.second),
      floorName: 'buildah build (vfs, chroot) + push + skopeo copy + umoci unpack',
    });
    rows.push({
      name: 'cached build: snapshot.create(same build info)',
      unit: 'ms',
      value: summarize(cached.first),
      floor: summarize(cached.second),
      floorName: 'GET /snapshots/{name}',
    });
    notes.push(`Build base: ${platform.defaultImage} (Shoal's default Debian image) from the platform's authenticated internal registry.`);
  } finally {
    await platform.stop();
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const rows: Row[] = [];
  const notes: string[] = [];
  if (!args.includes('--skip-pull')) await pullBench(rows, notes);
  if (!args.includes('--skip-build')) await buildBench(rows, notes);
  const minutes = (Date.now() - started) / 60000;
  console.log('');
  console.log(renderTable(rows));
  for (const n of notes) console.log(`note: ${n}`);
  const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `images-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ pulls, builds, minutes, notes, rows }, null, 2));
  console.log(`\nbench: ${minutes.toFixed(1)} min; results written to ${file}`);
}

await main();
