/*
 * `npm run bench:dashboard`: issue 16's "dashboard first load size and time to interactive", in Debian's headless
 * Chromium (puppeteer-core) against the API serving /dashboard/ (its own process on an embedded PostgreSQL; the pages
 * measured need no runner: the sandboxes list of a new organization is the empty state).
 *
 * Each sample is a fresh incognito browser context with the cache disabled:
 * - first load bytes, from CDP Network events: per response of the page load (HTML, JS, CSS), the bytes that went over
 *   the wire (loadingFinished.encodedDataLength: headers included, compressed only if the server compresses) and the
 *   decoded body (the sum of dataReceived.dataLength);
 * - interactive: navigation start (the page's performance time origin) to the sign-in form's key input present and
 *   enabled, read in the page the moment it appears;
 * - signed in: submitting the key to the sandboxes list rendered (#page-title is "Sandboxes" and the table or the
 *   empty state shown), also timed in the page.
 * The floor: the same dist files served by a minimal node:http server on loopback, loaded the same way, alternating
 * with the real runs (floor, real, floor, real, each after the previous finished). So that the sign-in figure has a
 * floor too, that server answers the page's few API calls with the JSON bodies the real API returned in an untimed
 * warm-up run (replayed from memory: no database, no auth).
 * Options: --runs N (default 15), --skip-build (use apps/dashboard/dist as it is).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { freePort } from '@shoal/platform';
import { startEmbeddedPostgres } from '@shoal/postgres';
import { repoRoot, startApiProcess, type ApiProcess } from './api-process.js';
import { fmt, summarize, type Summary } from './stats.js';

const args = process.argv.slice(2);
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 15;
const skipBuild = args.includes('--skip-build');
const DIST = join(repoRoot, 'apps/dashboard/dist');
const ADMIN_KEY = `dtn_${'d5'.repeat(32)}`;
/** Issue 16's budgets. */
const BUDGET_JS_GZIP_BYTES = 300 * 1024;
const BUDGET_INTERACTIVE_MS = 1000;

interface Loaded {
  url: string;
  type: string;
  status: number;
  wire: number;
  decoded: number;
}
interface Sample {
  interactiveMs: number;
  signedInMs: number;
  responses: Loaded[];
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };

/** The floor's server: dist files read once into memory, plus the API bodies recorded from the real run. */
async function startFloor(recorded: Map<string, string>): Promise<Server> {
  const files = new Map<string, { type: string; body: Buffer; gzip?: Buffer }>();
  files.set('/dashboard/', { type: TYPES['.html']!, body: await readFile(join(DIST, 'index.html')) });
  // The same build-time gzip copies the API sends to browsers that take gzip.
  for (const name of ['app.js', 'app.css']) {
    const path = join(DIST, 'assets', name);
    files.set(`/dashboard/assets/${name}`, { type: TYPES[extname(name)]!, body: await readFile(path), gzip: await readFile(`${path}.gz`) });
  }
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const file = files.get(url);
    if (file?.gzip && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
      return void res.writeHead(200, { 'content-type': file.type, 'content-encoding': 'gzip', 'content-length': file.gzip.length }).end(file.gzip);
    }
    if (file) return void res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length }).end(file.body);
    const api = recorded.get(url);
    if (api !== undefined) return void res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(api);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"statusCode":404,"message":"Not found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}


/** One page load and sign-in in a fresh incognito context. `record` collects the API's JSON bodies (warm-up only). */
async function sample(browser: Browser, origin: string, record?: Map<string, string>): Promise<Sample> {
  const context = await browser.createBrowserContext();
  try {
    const page: Page = await context.newPage();
    await page.setCacheEnabled(false);
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    const byId = new Map<string, Loaded>();
    let loading = true;
    cdp.on('Network.responseReceived', (e) => {
      if (loading) byId.set(e.requestId, { url: e.response.url, type: e.type, status: e.response.status, wire: 0, decoded: 0 });
    });
    cdp.on('Network.dataReceived', (e) => {
      const r = byId.get(e.requestId);
      if (r) r.decoded += e.dataLength;
    });
    cdp.on('Network.loadingFinished', (e) => {
      const r = byId.get(e.requestId);
      if (r) r.wire = e.encodedDataLength;
    });
    if (record) {
      page.on('response', (res) => {
        const u = new URL(res.url());
        if (u.pathname.startsWith('/api/') && res.status() === 200) void res.text().then((t) => record.set(u.pathname + u.search, t), () => undefined);
      });
    }
    await page.goto(`${origin}/dashboard/`, { waitUntil: 'domcontentloaded' });
    const ready = await page.waitForFunction(
      () => {
        const input = document.querySelector<HTMLInputElement>('input[name=apiKey]');
        return input && !input.disabled ? performance.now() : false;
      },
      { polling: 'mutation', timeout: 30_000 },
    );
    const interactiveMs = (await ready.jsonValue()) as number;
    // The first load is over once the page is interactive and its network quiet; later responses are the API's.
    await page.waitForNetworkIdle({ idleTime: 100, timeout: 30_000 });
    loading = false;
    await page.type('input[name=apiKey]', ADMIN_KEY);
    await page.waitForSelector('form button[type=submit]:not([disabled])');
    // Timed in the page, the check inline: the dashboard's CSP allows no eval of a check passed in as text.
    const signedInMs = await page.evaluate(
      () =>
        new Promise<number>((resolveMs, reject) => {
          const t0 = performance.now();
          const timer = setTimeout(() => reject(new Error('the sandboxes list did not render in 30 s')), 30_000);
          const mo = new MutationObserver(() => {
            // Inline, not a named helper: tsx's keepNames would wrap one in a __name() the page does not have.
            const title = document.querySelector('#page-title')?.textContent === 'Sandboxes';
            if (!title || !(document.querySelector('table#sandboxes') || [...document.querySelectorAll('p.muted')].some((p) => /^No sandbox/.test(p.textContent ?? '')))) return;
            mo.disconnect();
            clearTimeout(timer);
            resolveMs(performance.now() - t0);
          });
          mo.observe(document.body, { subtree: true, childList: true, characterData: true });
          document.querySelector<HTMLButtonElement>('form button[type=submit]')!.click();
        }),
    );
    if (record) await page.waitForNetworkIdle({ idleTime: 300, timeout: 30_000 });
    return { interactiveMs, signedInMs, responses: [...byId.values()] };
  } finally {
    await context.close();
  }
}

function sum(s: Sample, type?: string, field: 'wire' | 'decoded' = 'wire'): number {
  return s.responses.filter((r) => !type || r.type === type).reduce((a, r) => a + r[field], 0);
}

async function main(): Promise<void> {
  if (!skipBuild) {
    console.log('bench: npm run build -w @shoal/dashboard');
    const b = spawnSync('npm', ['run', 'build', '-w', '@shoal/dashboard'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
    if (b.status !== 0) throw new Error('the dashboard build failed');
  }
  const jsGzip = gzipSync(await readFile(join(DIST, 'assets/app.js')), { level: 9 }).length;
  const cssGzip = gzipSync(await readFile(join(DIST, 'assets/app.css')), { level: 9 }).length;
  const scratch = await mkdtemp('/var/tmp/shoal-bench-dashboard-');
  const browserDir = await mkdtemp(join(tmpdir(), 'shoal-bench-dashboard-chromium-'));
  const started = Date.now();
  let api: ApiProcess | undefined;
  let browser: Browser | undefined;
  let floor: Server | undefined;
  const pg = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), port: await freePort() });
  try {
    const real = await startApiProcess('dashboard', { databaseUrl: pg.url, dataDir: join(scratch, 'api'), adminKey: ADMIN_KEY });
    api = real;
    browser = await puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      userDataDir: browserDir,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,900'],
      defaultViewport: { width: 1280, height: 900 },
    });
    const recorded = new Map<string, string>();
    await sample(browser, real.url, recorded); // warm-up, untimed: the API's first requests and the recording
    floor = await startFloor(recorded);
    const floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}`;
    await sample(browser, floorUrl); // warm-up of the floor alike
    console.log(`bench: ${runs} x (floor, dashboard) interleaved; floor replays ${recorded.size} API responses: ${[...recorded.keys()].join(' ')}`);
    const a: Sample[] = [];
    const b: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(await sample(browser, floorUrl));
      b.push(await sample(browser, real.url));
    }
    const s = (xs: Sample[], f: (x: Sample) => number) => summarize(xs.map(f));
    const kb = (n: number) => n / 1024;
    const figures: { name: string; unit: string; value: Summary; floor: Summary; budget: string; withinBudget?: boolean }[] = [];
    const add = (name: string, unit: string, f: (x: Sample) => number, budget = '', within?: (v: Summary) => boolean) => {
      const value = s(b, f);
      figures.push({ name, unit, value, floor: s(a, f), budget, ...(within ? { withinBudget: within(value) } : {}) });
    };
    add('first load, all responses over the wire', 'KiB', (x) => kb(sum(x)));
    add('first load, all responses decoded', 'KiB', (x) => kb(sum(x, undefined, 'decoded')));
    // The budget is for compressed JavaScript; when the server sends it uncompressed, what goes over the wire is judged
    // as it is, and the gzip size says what compression would bring.
    add('first load, JS over the wire', 'KiB', (x) => kb(sum(x, 'Script')), `< 300 KiB compressed JS (gzip -9 of app.js: ${fmt(kb(jsGzip))} KiB)`, (v) => v.p99 * 1024 < BUDGET_JS_GZIP_BYTES);
    add('first load, JS decoded', 'KiB', (x) => kb(sum(x, 'Script', 'decoded')));
    add('first load, CSS over the wire', 'KiB', (x) => kb(sum(x, 'Stylesheet')), `(gzip -9 of app.css: ${fmt(kb(cssGzip))} KiB)`);
    add('first load, HTML over the wire', 'KiB', (x) => kb(sum(x, 'Document')));
    add('first load, responses', 'count', (x) => x.responses.length);
    add('interactive: navigation -> key input enabled', 'ms', (x) => x.interactiveMs, '< 1000 ms (judged at p99)', (v) => v.p99 < BUDGET_INTERACTIVE_MS);
    add('signed in: submit key -> sandboxes list rendered', 'ms', (x) => x.signedInMs);

    const compressed = b.flatMap((x) => x.responses).some((r) => r.decoded > 0 && r.wire < r.decoded);
    const header = ['figure', 'unit', 'n', 'p50', 'p99', 'floor p50', 'floor p99', 'budget'];
    const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i >= 2 && i <= 6 ? '---:' : '---')).join('|')}|`];
    for (const f of figures) {
      const verdict = f.withinBudget === undefined ? '' : f.withinBudget ? ': met' : ': NOT met';
      lines.push(`| ${[f.name, f.unit, String(f.value.n), fmt(f.value.p50), fmt(f.value.p99), fmt(f.floor.p50), fmt(f.floor.p99), f.budget + verdict].join(' | ')} |`);
    }
    console.log('');
    console.log(lines.join('\n'));
    const last = b[b.length - 1];
    if (last) for (const r of last.responses) console.log(`  ${r.type} ${r.status} ${new URL(r.url).pathname}: ${r.wire} B over the wire, ${r.decoded} B decoded`);
    const notes = [
      `the API ${compressed ? 'compresses' : 'does not compress'} the dashboard's responses; "over the wire" is CDP loadingFinished.encodedDataLength (headers included)`,
      'floor: node:http serving the same dist bytes from memory on loopback, and the API JSON recorded from the real API in a warm-up run',
      'each sample: a fresh incognito context, cache disabled; floor and real alternate, each after the previous finished',
    ];
    for (const n of notes) console.log(`note: ${n}`);
    const minutes = (Date.now() - started) / 60_000;
    const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
    await mkdir(resultsDir, { recursive: true });
    const file = join(resultsDir, `dashboard-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, JSON.stringify({ runs, minutes, jsGzipBytes: jsGzip, cssGzipBytes: cssGzip, notes, figures, lastSample: last?.responses }, null, 2));
    console.log(`\nbench: ${minutes.toFixed(1)} min; results written to ${file}`);
  } finally {
    await browser?.close().catch(() => undefined);
    floor?.close();
    await api?.stop();
    await pg.stop();
    await rm(browserDir, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
