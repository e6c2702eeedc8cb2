/*
 * The test orchestrator behind `npm test`. Runs, in order: type-check and lint, small tests, medium tests (one shared
 * PostgreSQL server; each test file clones its own database from a template) and e2e tests (real platform processes and
 * real sandboxes). Run-scoped resources — the PostgreSQL server, the image registry and the default-image cache — are
 * created here once and removed at the end, so test files share the slow default-snapshot build within one run only.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensureTraversable, startEmbeddedPostgres, type RunningPostgres } from '@shoal/postgres';
import { startRegistry, freePort, type RunningRegistry } from '@shoal/platform';
import { ensureDefaultRootfs } from '../apps/runner/src/images/default-image.js';

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

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

async function runNodeTests(files: string[], concurrency: number, timeoutMs: number, env: NodeJS.ProcessEnv, tapFile: string): Promise<Counts> {
  const code = await run(
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
  const num = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
  const counts = { passed: num('pass'), failed: num('fail') + num('cancelled'), skipped: num('skipped') + num('todo') };
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
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
        const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
        add({ passed: tsc === 0 ? 1 : 0, failed: tsc === 0 ? 0 : 1, skipped: 0 });
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
      // e2e files each start real platform processes and sandboxes: one at a time on this 2-core machine.
      const concurrency = tier === 'e2e' ? 1 : 2;
      // Per test (a suite's hooks included); generous: e2e builds on a loaded 2-core machine take minutes.
      const timeoutMs = tier === 'e2e' ? 30 * 60_000 : 10 * 60_000;
      add(await runNodeTests(files, concurrency, timeoutMs, env, join(scratch, `${tier}.tap`)));
    }
  } finally {
    await stop();
  }
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
