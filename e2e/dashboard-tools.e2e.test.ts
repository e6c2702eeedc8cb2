// Issue 16 acceptance, the tools on a sandbox's dashboard page, in a real headless Chromium (Debian's `chromium`,
// driven by puppeteer-core): the terminal over the PTY WebSocket (`echo $((6*7))` shows 42, a smaller window resizes
// the PTY, leaving the tab kills the session), the file browser (upload through the file input, the bytes in the
// sandbox, download back through the browser, a file named like markup listed as text, delete), a session command
// and its logs, the desktop tab's answer for an image without a desktop, and a snapshot's build log followed live on
// the snapshots page (a Dockerfile whose RUN prints a numbered line a second, hostile markup and an escape sequence
// among them). All under the dashboard's CSP (`connect-src 'self'` must let the same-origin ws: through). The desktop
// view itself (noVNC) is checked in computer-use.e2e.test.ts, on the desktop sandbox that file already has.
// SHOAL_DASHBOARD_SCREENSHOTS=<dir> keeps a PNG of each tab.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import { freePort, startRegistry, type RunningRegistry } from '@shoal/platform';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { pushBusyboxImage } from './src/busybox-image.js';
import { signInWithKey } from './src/dashboard-pages-check.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

const HOSTILE_NAME = '<img src=x onerror=window.__pwned=1>.txt';
const LOG_MARKUP = '<img src=x onerror=window.__pwned=1>';
const UPLOAD_NAME = 'dashboard-upload.bin';

let platform: TestPlatform;
let registry: RunningRegistry | undefined;
let sb: Sandbox;
let browser: Browser | undefined;
let page: Page;
let tempDir: string;
let origin: string;
let home: string;
const cspViolations: string[] = [];
const shotsDir = process.env.SHOAL_DASHBOARD_SCREENSHOTS;

async function screenshot(name: string): Promise<void> {
  if (!shotsDir) return;
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: join(shotsDir, `sandbox-${name}.png`) as `${string}.png`, fullPage: true });
}

async function openTab(tab: string): Promise<void> {
  await page.goto(`${origin}/dashboard/#/sandboxes/${encodeURIComponent(sb.id)}/${tab}`, { waitUntil: 'load' });
}

/** waitForSelector whose failure says what the page showed instead (an error banner, a spinner). */
async function waitShown(selector: string, timeout: number): Promise<void> {
  try {
    await page.waitForSelector(selector, { timeout });
  } catch (err) {
    const shown = await page.evaluate(() => (document.querySelector('main') ?? document.body).innerText).catch((e: Error) => `(unreadable: ${e.message})`);
    throw new Error(`${(err as Error).message}; the page showed: ${shown.slice(0, 1500)}`);
  }
}

/** The terminal's screen, one string per row, from xterm's DOM renderer. */
const terminalRows = () => page.$$eval('.xterm-rows > div', (rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()));

/** Clicks the button (in `scope`) whose aria-label, or else whose text, is `name`. */
async function clickButton(name: string, scope = 'body'): Promise<void> {
  const clicked = await page.evaluate(
    (n, sc) => {
      const buttons = [...document.querySelectorAll(`${sc} button`)] as HTMLButtonElement[];
      const b = buttons.find((x) => x.getAttribute('aria-label') === n) ?? buttons.find((x) => x.textContent?.trim() === n);
      b?.click();
      return Boolean(b);
    },
    name,
    scope,
  );
  assert.ok(clicked, `no button ${name} in ${scope}`);
}

const dashboardPty = async () => (await sb.process.listPtySessions()).filter((s) => s.id.startsWith('dashboard-'));

before(async () => {
  platform = await startTestPlatform();
  origin = new URL(platform.apiUrl).origin;
  const index = await fetch(`${origin}/dashboard/`);
  assert.equal(index.status, 200, `the dashboard is not served (build it: npm run build -w @shoal/dashboard): ${await index.text()}`);
  sb = await platform.sdk().create({ labels: { suite: 'dashboard-tools' } }, { timeout: 300 });
  home = (await sb.getUserHomeDir())!;
  tempDir = await mkdtemp(join(tmpdir(), 'shoal-dashboard-tools-'));
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: join(tempDir, 'profile'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,900'],
    defaultViewport: { width: 1280, height: 900 },
  });
  page = await browser.newPage();
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('dialog', (d) => void d.accept());
  // Signed in through the form: the session then lives in the tab's sessionStorage for every page below.
  await signInWithKey(page, `${origin}/dashboard/`, platform.apiKey);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (sb) await deleteAndWait(platform, sb);
  await platform?.close();
  await registry?.stop();
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
});

describe('a sandbox page’s tools in Chromium', () => {
  test('terminal: a PTY over the WebSocket runs echo $((6*7)) and shows 42; the PTY follows the window size', async () => {
    await openTab('terminal');
    await page.waitForSelector('[data-phase="connected"]', { timeout: 30_000 });
    // Typed once the shell has drawn its prompt: earlier keys are echoed by the tty before bash takes over the line.
    await eventually(async () => (await terminalRows()).some((r) => /[$#]$/.test(r)), 'the shell prompt', 15_000);
    await page.click('.terminal-host');
    await page.keyboard.type('echo $((6*7))\n');
    await eventually(async () => (await terminalRows()).some((r) => r.trim() === '42'), '42 on the terminal screen', 15_000);
    await screenshot('terminal');

    const [session] = await dashboardPty();
    assert.ok(session, 'the terminal made no PTY session');
    assert.equal(session.active, true);
    const before = session.cols;
    await page.setViewport({ width: 640, height: 900 });
    const resized = await eventually(
      async () => {
        const info = await sb.process.getPtySessionInfo(session.id);
        return info.cols !== before ? info : undefined;
      },
      'the PTY to take the narrower window',
      15_000,
    );
    assert.ok(resized.cols < before, `${resized.cols} columns after narrowing from ${before}`);
    // The shell sees the size the PTY has (read again: a later resize may have followed).
    await page.keyboard.type('stty size\n');
    await eventually(
      async () => {
        const info = await sb.process.getPtySessionInfo(session.id);
        return (await terminalRows()).some((r) => r.trim() === `${info.rows} ${info.cols}`);
      },
      'stty to print the PTY size',
      15_000,
    );
    await screenshot('terminal-narrow');
    await page.setViewport({ width: 1280, height: 900 });

    // Leaving the tab kills the session.
    await openTab('files');
    await eventually(async () => (await dashboardPty()).length === 0, 'the PTY session to be killed when the tab is left', 15_000);
  });

  test('files: upload through the file input, see it listed and in the sandbox, download the same bytes', async () => {
    await openTab('files');
    await waitShown('.files-tab table', 30_000);
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(64 * 1024)]);
    const local = join(tempDir, UPLOAD_NAME);
    await writeFile(local, bytes);
    const input = await page.waitForSelector('input[type=file]');
    await input!.uploadFile(local);
    await page.waitForSelector(`tr[data-file="${UPLOAD_NAME}"]`, { timeout: 15_000 });
    assert.ok((await sb.fs.downloadFile(`${home}/${UPLOAD_NAME}`)).equals(bytes), 'the sandbox holds other bytes than were uploaded');

    const downloads = join(tempDir, 'downloads');
    mkdirSync(downloads);
    const cdp = await browser!.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await clickButton(`Download ${UPLOAD_NAME}`);
    await eventually(async () => (await readdir(downloads)).includes(UPLOAD_NAME), 'the download to land', 15_000);
    assert.ok((await readFile(join(downloads, UPLOAD_NAME))).equals(bytes), 'the downloaded bytes differ');
    await screenshot('files');
  });

  test('files: a name holding markup is listed as text, never run; delete removes it', async () => {
    await sb.fs.uploadFile(Buffer.from('hostile\n'), `${home}/${HOSTILE_NAME}`);
    await clickButton('Refresh', '.files-tab');
    const shown = await eventually(
      async () => (await page.$$eval('td.file-name', (cells) => cells.map((c) => c.textContent ?? ''))).find((t) => t === HOSTILE_NAME),
      'the hostile name listed',
      15_000,
    );
    assert.equal(shown, HOSTILE_NAME);
    assert.equal(await page.$$eval('.files-tab img', (imgs) => imgs.length), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);

    await clickButton(`Delete ${HOSTILE_NAME}`);
    await eventually(async () => !(await sb.fs.listFiles(home)).some((f) => f.name === HOSTILE_NAME), 'the hostile file deleted in the sandbox', 15_000);
    await eventually(async () => !(await page.$$eval('td.file-name', (cells) => cells.map((c) => c.textContent ?? ''))).includes(HOSTILE_NAME), 'the row gone', 15_000);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  });

  test('files: create a folder, open it, go back up', async () => {
    await page.type('input[placeholder="name"]', 'dash-folder');
    await clickButton('Create folder', '.files-tab');
    await page.waitForSelector('tr[data-file="dash-folder"]', { timeout: 15_000 });
    assert.ok((await sb.fs.getFileDetails(`${home}/dash-folder`)).isDir);
    await clickButton('📁 dash-folder/', '.files-tab');
    await eventually(async () => (await page.$eval('.files-tab', (el) => el.textContent ?? '')).includes('This folder is empty.'), 'the empty folder listed', 15_000);
    assert.equal(await page.$eval('.files-tab input[type=text]', (el) => (el as HTMLInputElement).value), `${home}/dash-folder`);
    await clickButton('Up to the parent folder', '.files-tab');
    await page.waitForSelector(`tr[data-file="${UPLOAD_NAME}"]`, { timeout: 15_000 });
  });

  test('sessions: create a session, run a command from the page, see its logs', async () => {
    await openTab('sessions');
    await page.waitForSelector('input[placeholder="e.g. build"]', { timeout: 30_000 });
    await page.type('input[placeholder="e.g. build"]', 'dash-e2e');
    await clickButton('Create session', '.sessions-tab');
    await page.waitForSelector('input[placeholder="e.g. ls -la"]', { timeout: 15_000 });
    await page.type('input[placeholder="e.g. ls -la"]', 'echo hi-from-session; echo to-stderr >&2');
    await clickButton('Run', '.sessions-tab');
    const logs = await eventually(
      async () => {
        const text = await page.$eval('[data-testid="command-logs"]', (el) => el.textContent ?? '').catch(() => '');
        return text.includes('hi-from-session') && text.includes('to-stderr') ? text : undefined;
      },
      'the command output on the page',
      15_000,
    );
    assert.ok(!logs.includes('\x01') && !logs.includes('\x02'), 'stream markers shown');
    assert.equal(await page.$eval('[data-testid="command-logs"] .stderr', (el) => el.textContent?.trim()), 'to-stderr');
    const session = await sb.process.getSession('dash-e2e');
    assert.equal(session.commands?.[0]?.command, 'echo hi-from-session; echo to-stderr >&2');
    await eventually(async () => (await page.$eval('[data-command] [role="status"]', (el) => el.textContent ?? '')).includes('Exited with code 0'), 'the exit code shown', 15_000);
    await screenshot('sessions');

    await clickButton('Delete session dash-e2e');
    await eventually(async () => !(await sb.process.listSessions()).some((s) => s.sessionId === 'dash-e2e'), 'the session deleted', 15_000);
  });

  test('desktop: an image without a desktop shows the API’s message', async () => {
    await openTab('desktop');
    const text = await eventually(
      async () => (await page.$eval('.notice', (el) => el.textContent ?? '').catch(() => '')) || undefined,
      'the desktop tab’s notice',
      15_000,
    );
    assert.match(text, /Computer use is not available in this sandbox/);
    await screenshot('desktop');
  });

  test('snapshots: a build log streams onto the page while the snapshot builds, hostile text shown as text', async () => {
    // The base image comes from a registry on loopback (nothing leaves the host), as in builds.e2e.test.ts.
    registry = await startRegistry({ dataDir: join(tempDir, 'registry'), port: await freePort() });
    const base = `${registry.address}/e2e/busybox:1`;
    await pushBusyboxImage(join(tempDir, 'busybox'), base, ['sleep', '3600']);
    const ticks = 15;
    const dockerfile = [
      `FROM ${base}`,
      // ESC[31m (a terminal colour) is written raw into the log; a page that interpreted either would show neither.
      `RUN echo '${LOG_MARKUP}'; echo '\x1b[31mred-text\x1b[0m'; for i in ${Array.from({ length: ticks }, (_, i) => i + 1).join(' ')}; do echo tick-$i; sleep 1; done`,
    ].join('\n');
    const res = await fetch(`${platform.apiUrl}/snapshots`, {
      method: 'POST',
      headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'dashboard-build-logs', buildInfo: { dockerfileContent: dockerfile, contextHashes: [] } }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    const stateNow = async () => {
      const r = await fetch(`${platform.apiUrl}/snapshots/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${platform.apiKey}` } });
      return ((await r.json()) as { state: string }).state;
    };

    // Opened from the list's Logs link, as a user would.
    await page.goto(`${origin}/dashboard/#/snapshots`, { waitUntil: 'load' });
    const logsLink = `a[href="#/snapshots/logs/${encodeURIComponent(id)}"]`;
    await page.waitForSelector(logsLink, { timeout: 15_000 });
    await page.evaluate(() => ((window as unknown as { __sameDocument?: boolean }).__sameDocument = true));
    await page.click(logsLink);
    const tickLines = () => page.$eval('[data-testid="build-logs"]', (el) => (el.textContent ?? '').split('\n').filter((l) => /^tick-\d+$/.test(l.trim()))).catch(() => [] as string[]);
    // An early line on the page while the API still says building: the log is followed, not fetched at the end.
    const early = await eventually(async () => {
      const lines = await tickLines();
      if (lines.length === 0) return undefined;
      return { lines, state: await stateNow() };
    }, 'the first tick line on the page', 240_000);
    assert.equal(early.state, 'building', `the snapshot was ${early.state} when the page first showed ${early.lines.join(',')}`);
    assert.ok(early.lines.length < ticks, `all ${ticks} lines were there at once`);
    console.log(`[dashboard-tools] build log: ${early.lines.length} of ${ticks} tick lines on the page while the snapshot was ${early.state}`);
    assert.match(await page.$eval('[aria-live="polite"]', (el) => el.textContent ?? ''), /Following the log/);
    // Later lines arrive without a reload, then the log ends with the settled state.
    await eventually(async () => (await tickLines()).length === ticks, `tick-${ticks} on the page`, 60_000);
    const status = await eventually(async () => {
      const t = await page.$eval('[aria-live="polite"]', (el) => el.textContent ?? '');
      return /End of log\. State: active/.test(t) ? t : undefined;
    }, 'the end of the log with the state active', 60_000);
    assert.match(status, /End of log\. State: active/);
    assert.equal(await stateNow(), 'active');
    assert.deepEqual((await tickLines()).map((l) => l.trim()), Array.from({ length: ticks }, (_, i) => `tick-${i + 1}`));
    assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'the page reloaded');

    const log = await page.$eval('[data-testid="build-logs"]', (el) => el.textContent ?? '');
    assert.ok(log.split('\n').some((l) => l.trim() === LOG_MARKUP), `the markup line is not shown as text: ${log.slice(0, 2000)}`);
    assert.ok(log.includes('\x1b[31mred-text\x1b[0m'), 'the escape sequence is not shown as the text it is');
    assert.equal(await page.$$eval('[data-testid="build-logs"] *', (els) => els.length), 0, 'the log holds elements');
    assert.equal(await page.$('img[src=x]'), null);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    await screenshot('snapshot-build-logs');
  });

  test('no Content-Security-Policy violation on any tab', () => {
    assert.deepEqual(cspViolations, []);
  });
});
