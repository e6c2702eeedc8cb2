// Issue 14 acceptance, computer use: a sandbox from the desktop snapshot (shoal/desktop:1, built from Debian packages)
// driven through @daytonaio/sdk@0.108.1's ComputerUse -- start/status, screenshots that decode to the display's size,
// mouse, keyboard into a real xterm (checked through files the typed commands write), hotkey, scroll, windows,
// region and compressed screenshots, stop -- and a headless Chromium on the host (Debian's `chromium`, driven by
// puppeteer-core) that opens the desktop's web VNC client through the sandbox's preview URL and shows the desktop's
// pixels, then the dashboard's desktop tab, whose noVNC frame must connect and show the same screen. The first run of a test run builds the desktop image (its root filesystem is built once by run-tests.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import puppeteer, { type Browser } from 'puppeteer-core';
import { DESKTOP_SNAPSHOT } from '@shoal/contracts';
import { signInWithKey } from './src/dashboard-pages-check.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { colourShare, decodePng, isPng, isWebp, jpegSize, pixelAt, pngSize } from './src/images-decode.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

const TERM_TITLE = 'shoal-e2e-term';
/** The desktop's background for the browser check: a colour nothing else on the screen has. */
const ROOT_COLOUR: [number, number, number] = [0x12, 0xab, 0x34];

let platform: TestPlatform;
let sb: Sandbox;
let browser: Browser | undefined;
let browserDir: string | undefined;
let display: { width: number; height: number };
let term: { x: number; y: number; width: number; height: number };

before(async () => {
  platform = await startTestPlatform({ extraApiEnv: { SHOAL_DESKTOP_SNAPSHOT: '1' } });
  const t0 = Date.now();
  // The first sandbox of a run waits for the runner to turn the cached root filesystem into the image and unpack it.
  sb = await platform.sdk().create({ snapshot: DESKTOP_SNAPSHOT, labels: { suite: 'computer-use' } }, { timeout: 1500 });
  console.log(`[computer-use] create from ${DESKTOP_SNAPSHOT}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (browserDir) await rm(browserDir, { recursive: true, force: true });
  if (sb) await deleteAndWait(platform, sb);
  await platform?.close();
});

const sh = async (command: string) => (await sb.process.executeCommand(command)).result;
const fileText = (path: string) => sh(`cat ${path} 2>/dev/null || true`);
const screenPixels = async (region?: { x: number; y: number; width: number; height: number }) => {
  const shot = region ? await sb.computerUse.screenshot.takeRegion(region) : await sb.computerUse.screenshot.takeFullScreen();
  return decodePng(Buffer.from(shot.screenshot, 'base64'));
};

describe('computer use on the desktop snapshot', () => {
  test('start brings the desktop up; status is active with every process running', async () => {
    const t0 = Date.now();
    const started = await sb.computerUse.start();
    assert.match(started.message, /started/i);
    const status = await eventually(async () => ((await sb.computerUse.getStatus()).status === 'active' ? true : undefined), 'the desktop to be active', 60_000);
    console.log(`[computer-use] start -> active: ${Date.now() - t0} ms`);
    assert.ok(status);
    for (const name of ['xvfb', 'xfce4', 'x11vnc', 'novnc']) assert.equal((await sb.computerUse.getProcessStatus(name)).running, true, name);
  });

  test('a full screenshot decodes as a PNG of the display size', async () => {
    const info = await sb.computerUse.display.getInfo();
    const d = info.displays[0] as { width: number; height: number };
    assert.ok(d.width > 0 && d.height > 0, JSON.stringify(info));
    display = { width: d.width, height: d.height };
    const shot = await sb.computerUse.screenshot.takeFullScreen();
    const png = Buffer.from(shot.screenshot, 'base64');
    assert.ok(isPng(png), 'not a PNG');
    assert.deepEqual(pngSize(png), display);
    assert.equal(decodePng(png).data.length > 0, true);
  });

  test('mouse move, then position reports the same point', async () => {
    await sb.computerUse.mouse.move(123, 234);
    assert.deepEqual(await sb.computerUse.mouse.getPosition(), { x: 123, y: 234 });
    await sb.computerUse.mouse.move(display.width - 7, 5);
    const p = await sb.computerUse.mouse.getPosition();
    assert.deepEqual({ x: p.x, y: p.y }, { x: display.width - 7, y: 5 });
  });

  test('a terminal appears in the windows list; clicking and typing into it runs a command', async () => {
    await sb.process.createSession('desktop');
    await sb.process.executeSessionCommand('desktop', {
      command: `DISPLAY=:0 xterm -T ${TERM_TITLE} -geometry 80x20+40+40 -fa 'DejaVu Sans Mono' -fs 10 -e bash --norc`,
      runAsync: true,
    });
    const win = await eventually(
      async () => ((await sb.computerUse.display.getWindows()).windows as Array<typeof term & { title: string }>).find((w) => w.title === TERM_TITLE),
      'the xterm window in the windows list',
      30_000,
    );
    term = { x: win.x, y: win.y, width: win.width, height: win.height };
    assert.ok(term.width > 100 && term.height > 100, JSON.stringify(win));
    await sb.computerUse.mouse.click(term.x + Math.floor(term.width / 2), term.y + Math.floor(term.height / 2));
    await sb.computerUse.keyboard.type('echo hello > /tmp/cu-out');
    await sb.computerUse.keyboard.press('Return');
    assert.equal(await eventually(async () => ((await fileText('/tmp/cu-out')) === 'hello\n' ? 'hello\n' : undefined), '/tmp/cu-out', 20_000), 'hello\n');
  });

  test('hotkey acts: ctrl+d ends a cat that would otherwise swallow the next command', async () => {
    await sb.computerUse.keyboard.type('cat > /tmp/cu-hotkey');
    await sb.computerUse.keyboard.press('Return');
    await sb.computerUse.keyboard.type('abc');
    await sb.computerUse.keyboard.press('Return');
    await sb.computerUse.keyboard.hotkey('ctrl+d');
    await sb.computerUse.keyboard.type('echo after > /tmp/cu-after');
    await sb.computerUse.keyboard.press('Return');
    await eventually(async () => (await fileText('/tmp/cu-after')) === 'after\n', '/tmp/cu-after (written only once cat has ended)', 20_000);
    assert.equal(await fileText('/tmp/cu-hotkey'), 'abc\n');
  });

  test('scroll acts: the wheel moves the terminal through its scrollback and back', async () => {
    await sb.computerUse.keyboard.type('clear; seq 1 400; echo seq-done > /tmp/cu-seq');
    await sb.computerUse.keyboard.press('Return');
    await eventually(async () => (await fileText('/tmp/cu-seq')) === 'seq-done\n', 'seq to finish', 20_000);
    const cx = term.x + Math.floor(term.width / 2);
    const cy = term.y + Math.floor(term.height / 2);
    await sb.computerUse.mouse.move(cx, cy);
    const region = { x: term.x, y: term.y, width: term.width, height: term.height };
    const before = await screenPixels(region);
    assert.equal(await sb.computerUse.mouse.scroll(cx, cy, 'up', 5), true);
    const scrolled = await eventually(async () => {
      const now = await screenPixels(region);
      return now.data.equals(before.data) ? undefined : now;
    }, 'the terminal to show its scrollback', 10_000);
    assert.equal(await sb.computerUse.mouse.scroll(cx, cy, 'down', 5), true);
    await eventually(async () => {
      const now = await screenPixels(region);
      return now.data.equals(scrolled.data) ? undefined : now;
    }, 'the terminal to scroll back down', 10_000);
  });

  test('region and compressed screenshots have the requested size and format', async () => {
    const region = await sb.computerUse.screenshot.takeRegion({ x: 10, y: 20, width: 200, height: 100 });
    assert.deepEqual(pngSize(Buffer.from(region.screenshot, 'base64')), { width: 200, height: 100 });
    const jpeg = await sb.computerUse.screenshot.takeCompressed({ format: 'jpeg', quality: 60, scale: 0.5 });
    assert.deepEqual(jpegSize(Buffer.from(jpeg.screenshot, 'base64')), { width: Math.round(display.width / 2), height: Math.round(display.height / 2) });
    const pngRegion = await sb.computerUse.screenshot.takeCompressedRegion({ x: 0, y: 0, width: 300, height: 160 }, { format: 'png' });
    assert.deepEqual(pngSize(Buffer.from(pngRegion.screenshot, 'base64')), { width: 300, height: 160 });
    const webp = await sb.computerUse.screenshot.takeCompressed({ format: 'webp', quality: 50 });
    assert.ok(isWebp(Buffer.from(webp.screenshot, 'base64')), 'not a WebP');
  });

  test('a headless Chromium on the host shows the desktop through the preview URL (web VNC client on 6080)', async () => {
    await sh(`DISPLAY=:0 xsetroot -solid '#${ROOT_COLOUR.map((c) => c.toString(16).padStart(2, '0')).join('')}'`);
    // The sandbox's own view first: a corner the terminal does not cover has the colour.
    const own = await screenPixels();
    assert.deepEqual(pixelAt(own, display.width - 3, display.height - 3), ROOT_COLOUR);
    const link = await sb.getPreviewLink(6080);
    const prefix = new URL(link.url).pathname.replace(/^\/+|\/+$/g, '');
    const wsPath = prefix ? `${prefix}/websockify` : 'websockify';
    const page = `${link.url.replace(/\/+$/, '')}/vnc.html?autoconnect=true&resize=off&reconnect=true&reconnect_delay=1000&path=${encodeURIComponent(wsPath)}&DAYTONA_SANDBOX_AUTH_KEY=${encodeURIComponent(link.token)}`;
    browserDir = await mkdtemp(join(tmpdir(), 'shoal-cu-chromium-'));
    const t0 = Date.now();
    browser = await puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      userDataDir: browserDir,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--window-size=${display.width + 100},${display.height + 100}`],
      defaultViewport: { width: display.width + 100, height: display.height + 100 },
    });
    const tab = await browser.newPage();
    // What went wrong in the page, for the failure message: noVNC is some 40 ES modules fetched through the preview
    // proxy, and one that fails leaves a blank page with an empty status line (seen once in CI).
    const trouble: string[] = [];
    const pathOf = (url: string) => new URL(url).pathname.split('/').slice(-2).join('/');
    tab.on('requestfailed', (r) => trouble.push(`failed ${pathOf(r.url())}: ${r.failure()?.errorText ?? '?'}`));
    tab.on('response', (r) => {
      if (r.status() >= 400) trouble.push(`${r.status()} ${pathOf(r.url())}`);
    });
    tab.on('pageerror', (err) => trouble.push(`page error: ${(err as Error).message}`));
    tab.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') trouble.push(`console ${m.type()}: ${m.text()}`);
    });
    const res = await tab.goto(page, { waitUntil: 'load', timeout: 60_000 });
    assert.equal(res?.status(), 200);
    // noVNC reconnects as a user's page would (once in CI the first WebSocket failed and reconnect=false left the page
    // blank for good); its status line is in the failure message.
    const share = await eventually(
      async () => {
        const png = Buffer.from(await tab.screenshot({ type: 'png', encoding: 'base64' }), 'base64');
        const s = colourShare(decodePng(png), ROOT_COLOUR, 24);
        return s > 0.2 ? s : undefined;
      },
      "the desktop's colour in Chromium's screenshot of noVNC",
      60_000,
    ).catch(async (err: Error) => {
      const status = await tab.$eval('#noVNC_status', (el) => el.textContent ?? '').catch(() => '(no status element)');
      const connected = await tab.$eval('html', (el) => el.className).catch(() => '?');
      throw new Error(`${err.message}; noVNC's status: ${status}; html class: ${connected}; in the page: ${trouble.slice(0, 20).join(' | ') || 'nothing failed'}`);
    });
    console.log(`[computer-use] noVNC in Chromium showed the desktop after ${Date.now() - t0} ms (${(share * 100).toFixed(0)}% of the page has its colour)`);
  });

  test("the dashboard's desktop tab shows the same screen through its noVNC frame", async () => {
    assert.ok(browser, 'the previous test launched the browser');
    const t0 = Date.now();
    const tab = await browser.newPage();
    const cspViolations: string[] = [];
    tab.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    const origin = new URL(platform.apiUrl).origin;
    await signInWithKey(tab, `${origin}/dashboard/`, platform.apiKey);
    await tab.goto(`${origin}/dashboard/#/sandboxes/${encodeURIComponent(sb.id)}/desktop`, { waitUntil: 'load' });
    await tab.waitForSelector('.desktop-tab .badge.state-active', { timeout: 30_000 });
    const frameEl = await tab.waitForSelector('iframe.desktop-frame', { timeout: 30_000 });
    const frame = await frameEl!.contentFrame();
    assert.ok(frame, 'no noVNC frame');
    // noVNC marks its document connected once the RFB handshake through the proxied WebSocket is done.
    await frame.waitForSelector('html.noVNC_connected', { timeout: 60_000 });
    assert.match(await frame.$eval('#noVNC_status', (el) => el.textContent ?? ''), /Connected/i);
    // The canvas holds the framebuffer at the display's size; sampled on a grid, it matches the API's screenshot.
    const own = await screenPixels();
    const grid = { cols: 32, rows: 24 };
    const sampled = await eventually(
      async () => {
        const got = await frame.evaluate((g: { cols: number; rows: number }) => {
          const canvas = document.querySelector('#noVNC_container canvas, canvas') as HTMLCanvasElement | null;
          const ctx = canvas?.getContext('2d');
          if (!canvas || !ctx || canvas.width === 0) return undefined;
          const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const px: number[][] = [];
          for (let r = 0; r < g.rows; r++)
            for (let c = 0; c < g.cols; c++) {
              const x = Math.floor(((c + 0.5) * canvas.width) / g.cols);
              const y = Math.floor(((r + 0.5) * canvas.height) / g.rows);
              const o = (y * canvas.width + x) * 4;
              px.push([data[o]!, data[o + 1]!, data[o + 2]!]);
            }
          return { width: canvas.width, height: canvas.height, px };
        }, grid);
        if (!got || got.width !== display.width || got.height !== display.height) return undefined;
        const same = got.px.filter((p, i) => {
          const x = Math.floor(((i % grid.cols) + 0.5) * display.width / grid.cols);
          const y = Math.floor((Math.floor(i / grid.cols) + 0.5) * display.height / grid.rows);
          const want = pixelAt(own, x, y);
          return p.every((v, k) => Math.abs(v - want[k]!) <= 16);
        }).length;
        return same / got.px.length >= 0.9 ? { same, of: got.px.length } : undefined;
      },
      'the noVNC canvas to match the screenshot from the computer-use API',
      30_000,
    );
    // And the browser draws it: the frame's own pixels carry the desktop's colour.
    const framePng = decodePng(Buffer.from(await frameEl!.screenshot({ type: 'png', encoding: 'base64' }), 'base64'));
    const share = colourShare(framePng, ROOT_COLOUR, 24);
    assert.ok(share > 0.2, `${(share * 100).toFixed(0)}% of the frame has the desktop's colour`);
    assert.deepEqual(cspViolations, []);
    if (process.env.SHOAL_DASHBOARD_SCREENSHOTS) {
      await tab.screenshot({ path: join(process.env.SHOAL_DASHBOARD_SCREENSHOTS, 'sandbox-desktop-novnc.png') as `${string}.png`, fullPage: true });
    }
    console.log(
      `[computer-use] dashboard desktop tab connected and matched ${sampled.same}/${sampled.of} sampled pixels in ${Date.now() - t0} ms (${(share * 100).toFixed(0)}% of the frame has the colour)`,
    );
    await tab.close();
  });

  test('stop ends the desktop; status is inactive', async () => {
    await browser?.close();
    browser = undefined;
    const stopped = await sb.computerUse.stop();
    assert.match(stopped.message, /stopped/i);
    assert.equal((await sb.computerUse.getStatus()).status, 'inactive');
    assert.equal((await sb.computerUse.getProcessStatus('xvfb')).running, false);
  });
});
