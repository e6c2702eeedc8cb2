/*
 * The test orchestrator behind `npm test`. Runs, in order: type-check and lint, small tests, medium tests (one shared
 * PostgreSQL server; each test file clones its own database from a template) and e2e tests (real platform processes and
 * real sandboxes). Run-scoped resources — the PostgreSQL server, the image registry and the default-image cache — are
 * created here once and removed at the end, so test files share the slow default-snapshot build within one run only.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { ensureTraversable, startEmbeddedPostgres, type RunningPostgres } from '@shoal/postgres';
import { startRegistry, freePort, type RunningRegistry } from '@shoal/platform';
import { ensureDefaultRootfs } from '../apps/runner/src/images/default-image.js';
import { ensureDesktopRootfs } from '../apps/runner/src/images/desktop-image.js';
import { formatFailures, tapFailures, type TapFailure } from './tap-failures.js';

const root = new URL('..', import.meta.url).pathname;
type Tier = 'static' | 'small' | 'medium' | 'e2e';
const ALL: Tier[] = ['static', 'small', 'medium', 'e2e'];

const args = process.argv.slice(2);
const tiers = args.length > 0 && ALL.includes(args[0] as Tier) ? [args[0] as Tier] : ALL;
const filter = args.length > 1 ? args[1] : args.length === 1 && !ALL.includes(args[0] as Tier) ? args[0] : undefined;

async function findTests(dir: string, suffix: string, out: string[] = []): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) await findTests(p, suffix, out);
    else if (e.name.endsWith(suffix)) out.push(p);
  }
  return out;
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: 'inherit', env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/**
 * e2e files that observe only the platform they start (own data dir, database, bridge, subnet, API keys): safe to
 * run beside another such file. Anything that counts host-wide processes, mounts, cgroups or uid ranges, kills
 * processes by role, or asserts on timing stays out of this list, and so do the image builds (builds,
 * images-acceptance): they keep both cores busy on their own, and paired on a loaded host images-acceptance took
 * 28 minutes and lost its log streams.
 */
const SELF_CONTAINED_E2E = new Set([
  'e2e/first-run.e2e.test.ts',
  'e2e/generated-client.e2e.test.ts',
  'e2e/input.e2e.test.ts',
  'e2e/object-storage.e2e.test.ts',
  'e2e/oidc-login.e2e.test.ts',
  'e2e/org-access.e2e.test.ts',
  'e2e/registry-auth.e2e.test.ts',
  'e2e/restart.e2e.test.ts',
  'e2e/sandbox-lifecycle.e2e.test.ts',
  'e2e/snapshots.e2e.test.ts',
  'e2e/ssh.e2e.test.ts',
  'e2e/tenancy.e2e.test.ts',
  'e2e/toolbox-fs.e2e.test.ts',
  'e2e/toolbox-git.e2e.test.ts',
  'e2e/volumes.e2e.test.ts',
  'e2e/webhooks.e2e.test.ts',
  'e2e/containment-credentials.e2e.test.ts',
  'e2e/toolbox-process.e2e.test.ts',
  'e2e/lsp.e2e.test.ts',
  'e2e/observability.e2e.test.ts',
  'e2e/dashboard.e2e.test.ts',
  'e2e/dashboard-tools.e2e.test.ts',
  'e2e/dashboard-oidc.e2e.test.ts',
  // Its network namespace, veth and 198.18 subnet are its own (random names, a subnet no route uses).
  'e2e/warm-pool.e2e.test.ts',
  // Last in the queue: it waits for the desktop image, built in the background while the files above run.
  'e2e/computer-use.e2e.test.ts',
]);

/** Like run(), with stdout and stderr collected and written out in one piece when the process ends. */
function runHeld(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('close', (code, signal) => {
      process.stdout.write(Buffer.concat(chunks));
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Every failed test of the run with what it said, printed again at the end (see tap-failures.ts). */
const failuresByFile: { file: string; failures: TapFailure[] }[] = [];

async function runNodeTests(
  files: string[],
  concurrency: number,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  tapFile: string,
  holdOutput = false,
): Promise<Counts> {
  const code = await (holdOutput ? runHeld : run)(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      // A test that hangs fails with its name instead of holding the whole run until CI's hard limit.
      `--test-timeout=${timeoutMs}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      ...files,
    ],
    env,
  );
  const tap = await readFile(tapFile, 'utf8').catch(() => '');
  const failures = tapFailures(tap);
  if (failures.length > 0) failuresByFile.push({ file: files.length === 1 ? relative(root, files[0]!) : basename(tapFile, '.tap'), failures });
  const num = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
  const counts = { passed: num('pass'), failed: num('fail') + num('cancelled'), skipped: num('skipped') + num('todo') };
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
}

/**
 * Runs each file in its own `node --test` so its wall time is known. With one file at a time its output streams live;
 * with more, each file's output is held and printed whole when it ends, so two files' lines never interleave.
 */
async function runFilesEach(
  files: string[],
  concurrency: number,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  scratch: string,
  timings: { file: string; s: number }[],
  ready: (file: string) => Promise<void> = () => Promise.resolve(),
): Promise<Counts> {
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const name = relative(root, file);
      await ready(file);
      const tap = join(scratch, `${name.replace(/[/\\]/g, '_')}.tap`);
      const t0 = performance.now();
      console.log(`\n-- ${name}: started${concurrency > 1 ? ' (output when it ends)' : ''}`);
      const c = await runNodeTests([file], 1, timeoutMs, env, tap, concurrency > 1);
      const seconds = (performance.now() - t0) / 1000;
      timings.push({ file: name, s: seconds });
      console.log(`-- ${name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped in ${seconds.toFixed(0)} s`);
      total.passed += c.passed;
      total.failed += c.failed;
      total.skipped += c.skipped;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return total;
}

async function main(): Promise<number> {
  const scratch = await mkdtemp(join(tmpdir(), 'shoal-test-'));
  // PostgreSQL runs as the `postgres` user and must be able to reach its data directory below this one.
  await chmod(scratch, 0o755);
  // Sandboxes (an unprivileged uid range) bind-mount the toolbox bundle from this checkout, which may be a 0700 clone.
  const opened = await ensureTraversable(root);
  if (opened.length > 0) console.log(`made traversable (o+x) for sandboxes and the postgres user: ${opened.join(', ')}`);
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const add = (c: Counts) => {
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
  };
  let pg: RunningPostgres | undefined;
  let registry: RunningRegistry | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, SHOAL_TEST_SCRATCH: scratch };
  delete env.NODE_EXTRA_CA_CERTS;
  const stop = async () => {
    await registry?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    for (const tier of tiers) {
      if (tier === 'static') {
        if (filter) continue;
        console.log('\n== static: type-check and lint');
        // The dashboard's browser code has its own settings (DOM, JSX); the root project is Node only.
        for (const project of ['tsconfig.json', 'apps/dashboard/web/tsconfig.json']) {
          const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project]);
          add({ passed: tsc === 0 ? 1 : 0, failed: tsc === 0 ? 0 : 1, skipped: 0 });
        }
        const lint = await run(process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '.']);
        add({ passed: lint === 0 ? 1 : 0, failed: lint === 0 ? 0 : 1, skipped: 0 });
        continue;
      }
      const dirs = ['apps', 'packages', 'e2e', 'scripts', 'bench'].map((d) => join(root, d));
      let files = (await Promise.all(dirs.map((d) => findTests(d, `.${tier}.test.ts`)))).flat().sort();
      if (filter) files = files.filter((f) => relative(root, f).includes(filter));
      if (files.length === 0) continue;
      console.log(`\n== ${tier}: ${files.length} file(s)`);
      if ((tier === 'medium' || tier === 'e2e') && !pg) {
        pg = await startEmbeddedPostgres({ dataDir: join(scratch, 'postgres'), port: await freePort() });
        env.SHOAL_TEST_DATABASE_URL = pg.url;
      }
      if (tier === 'e2e' && !registry) {
        registry = await startRegistry({ dataDir: join(scratch, 'registry'), port: await freePort() });
        env.SHOAL_TEST_REGISTRY = registry.address;
        // A developer may point at a kept cache to skip the default-image build; CI always builds its own.
        env.SHOAL_IMAGE_CACHE_DIR ??= join(scratch, 'image-cache');
        // Built once here, with progress, rather than inside whichever e2e file comes first: that file would pay
        // minutes of debootstrap + apt inside its own hooks and HTTP timeouts.
        console.log('building (or finding) the default image root filesystem once for the e2e tier...');
        await ensureDefaultRootfs(join(scratch, 'default-image-work'), env.SHOAL_IMAGE_CACHE_DIR, (line) => console.log(line));
        await rm(join(scratch, 'default-image-work'), { recursive: true, force: true });
      }
      // The desktop snapshot's root filesystem (issue 14) only when its e2e runs: Chromium and the X stack add minutes
      // of apt. It is built while the first e2e files run (they mostly wait on processes) and awaited before
      // computer-use starts.
      let desktopImage: Promise<void> | undefined;
      if (tier === 'e2e' && files.some((f) => f.endsWith('/computer-use.e2e.test.ts'))) {
        console.log('building (or finding) the desktop image root filesystem in the background...');
        const cache = env.SHOAL_IMAGE_CACHE_DIR!;
        desktopImage = ensureDesktopRootfs(join(scratch, 'desktop-image-work'), cache, (line) => console.log(line)).then(() =>
          rm(join(scratch, 'desktop-image-work'), { recursive: true, force: true }),
        );
        // Awaited below; until then a failure must not surface as an unhandled rejection.
        desktopImage.catch(() => undefined);
      }
      // Per test (a suite's hooks included); generous: e2e builds on a loaded 2-core machine take minutes.
      const timeoutMs = tier === 'e2e' ? 30 * 60_000 : 10 * 60_000;
      if (tier !== 'e2e') {
        add(await runNodeTests(files, 2, timeoutMs, env, join(scratch, `${tier}.tap`)));
        continue;
      }
      // e2e files each start real platform processes and sandboxes. Files that only see their own platform run two
      // at a time (most of their time is waiting on processes and HTTP); files that look at the whole host
      // (leftover processes, mounts, cgroups, uid ranges), kill shared things, or measure timing run alone.
      const pairs = Number(process.env.SHOAL_E2E_CONCURRENCY ?? 2);
      const order = [...SELF_CONTAINED_E2E];
      const shared = files
        .filter((f) => SELF_CONTAINED_E2E.has(relative(root, f)))
        .sort((a, b) => order.indexOf(relative(root, a)) - order.indexOf(relative(root, b)));
      const alone = files.filter((f) => !SELF_CONTAINED_E2E.has(relative(root, f)));
      const timings: { file: string; s: number }[] = [];
      for (const [group, concurrency] of [
        [shared, pairs],
        [alone, 1],
      ] as const) {
        // SHOAL_E2E_GROUP=shared|alone runs one of the two groups (to check the paired files on their own).
        const only = process.env.SHOAL_E2E_GROUP;
        if (group.length === 0 || (only && only !== (group === shared ? 'shared' : 'alone'))) continue;
        console.log(`\n== e2e: ${group.length} file(s), ${concurrency} at a time`);
        const ready = (file: string) => (desktopImage && file.endsWith('/computer-use.e2e.test.ts') ? desktopImage : Promise.resolve());
        add(await runFilesEach(group, concurrency, timeoutMs, env, scratch, timings, ready));
      }
      timings.sort((a, b) => b.s - a.s);
      console.log(`\ne2e wall time per file (s): ${timings.map((t) => `${t.file} ${t.s.toFixed(0)}`).join(', ')}`);
    }
  } finally {
    await stop();
  }
  if (failuresByFile.length > 0) console.log(`\n== failed tests\n${formatFailures(failuresByFile)}`);
  console.log(`\nshoal: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  // A skipped test proves nothing, and a run that skipped (say, the sandbox tier for want of root) must not read as
  // green. A developer who knows what was skipped and why can accept it explicitly.
  const allowSkips = process.env.SHOAL_ALLOW_SKIPS === '1';
  if (total.skipped > 0 && !allowSkips) {
    console.log(`shoal: failing the run because ${total.skipped} test(s) were skipped or todo; set SHOAL_ALLOW_SKIPS=1 to accept skips`);
  }
  return total.failed === 0 && (total.skipped === 0 || allowSkips) ? 0 : 1;
}

process.exit(await main());
