// Issue 16 acceptance, the tools on a sandbox's dashboard page, in a real headless Chromium (Debian's `chromium`,
// driven by puppeteer-core): the terminal over the PTY WebSocket (`echo $((6*7))` shows 42, a smaller window resizes
// the PTY, leaving the tab kills the session), the file browser (upload through the file input, the bytes in the
// sandbox, download back through the browser, a file named like markup listed as text, delete), a session command
// and its logs, and the desktop tab's answer for an image without a desktop. All under the dashboard's CSP
// (`connect-src 'self'` must let the same-origin ws: through). The desktop view itself (noVNC) is not exercised here:
// it needs the desktop image, which computer-use.e2e.test.ts builds and checks through the same preview proxy.
// SHOAL_DASHBOARD_SCREENSHOTS=<dir> keeps a PNG of each tab.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

const HOSTILE_NAME = '<img src=x onerror=window.__pwned=1>.txt';
const UPLOAD_NAME = 'dashboard-upload.bin';

let platform: TestPlatform;
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
  // Signed in as the sign-in form leaves it: the key in the tab's sessionStorage.
  await page.evaluateOnNewDocument((key: string) => sessionStorage.setItem('shoal.session', JSON.stringify({ apiKey: key })), platform.apiKey);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
  if (sb) await deleteAndWait(platform, sb);
  await platform?.close();
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
    await page.waitForSelector('.files-tab table', { timeout: 30_000 });
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

  test('no Content-Security-Policy violation on any tab', () => {
    assert.deepEqual(cspViolations, []);
  });
});
