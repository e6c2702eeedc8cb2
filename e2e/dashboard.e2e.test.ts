// Issue 16 acceptance, the dashboard in a real browser: Debian's headless Chromium driven by puppeteer-core against a
// real platform. Signing in (a wrong key, the platform's key), creating a sandbox from the UI form, stop and start
// without a reload, hostile labels shown as text and never run, API keys created and revoked from the page, a key
// revoked elsewhere ending the session at the next poll, and the list at phone width. With SHOAL_DASHBOARD_SCREENSHOTS
// set to a directory, a PNG of each page is saved there.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Sandbox } from '@daytonaio/sdk';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait } from './src/toolbox-helpers.js';
import { checkPlatformPages, PLATFORM_PAGES } from './src/dashboard-pages-check.js';

const SCREENSHOTS = process.env.SHOAL_DASHBOARD_SCREENSHOTS;
const HOSTILE = {
  x: '<img src=x onerror="window.__pwned=1">',
  y: '<script>window.__pwned=2</script>',
};
/** A sandbox's first create waits for the runner to unpack the default image; later ones take seconds. */
const CREATE_MS = 240_000;

let platform: TestPlatform;
let browser: Browser | undefined;
let browserDir: string | undefined;
let page: Page;
let dashboard: string;
let uiSandboxId: string | undefined;
let hostile: Sandbox | undefined;
const pageErrors: string[] = [];
const cspViolations: string[] = [];

before(async () => {
  platform = await startTestPlatform();
  dashboard = `${platform.apiUrl.replace(/\/api$/, '')}/dashboard/`;
  browserDir = await mkdtemp(join(tmpdir(), 'shoal-dashboard-chromium-'));
  if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: browserDir,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,900'],
    defaultViewport: { width: 1280, height: 900 },
  });
  page = await watched(await browser.newPage());
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (browserDir) await rm(browserDir, { recursive: true, force: true });
  const daytona = platform?.sdk();
  for (const id of [uiSandboxId, hostile?.id]) {
    if (!id || !daytona) continue;
    const sb = await daytona.get(id).catch(() => undefined);
    if (sb) await deleteAndWait(platform, sb);
  }
  await platform?.close();
});

/** Every page of the test reports script errors, CSP refusals and accepts the delete/revoke confirmations. */
async function watched(p: Page): Promise<Page> {
  p.on('pageerror', (err) => pageErrors.push(String(err)));
  p.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
  p.on('dialog', (d) => void d.accept());
  return p;
}

async function shot(p: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await p.screenshot({ path: join(SCREENSHOTS, `${name}.png`) as `${string}.png`, fullPage: true });
}

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto(dashboard, { waitUntil: 'load' });
  await p.waitForSelector('input[name=apiKey]');
  await p.type('input[name=apiKey]', key);
  await p.click('form button[type=submit]');
}

const text = (p: Page, selector: string) => p.$eval(selector, (el) => (el as HTMLElement).innerText);

/** Waits until the row of a sandbox shows a state badge with this text (the list polls every 3 s). */
async function waitForRowState(p: Page, id: string, state: string, timeout = 120_000): Promise<void> {
  await p.waitForFunction(
    (sid: string, want: string) => document.querySelector(`tr[data-sandbox-id="${sid}"] .badge`)?.textContent === want,
    { timeout, polling: 250 },
    id,
    state,
  );
}

describe('the dashboard in headless Chromium', () => {
  test('the page loads under its CSP; a wrong key shows a clear sign-in error', async () => {
    const res = await page.goto(dashboard, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.match(String(res?.headers()['content-security-policy']), /script-src 'self'/);
    await signIn(page, `dtn_${'0'.repeat(64)}`);
    await page.waitForSelector('.signin .error');
    assert.match(await text(page, '.signin .error'), /not valid \(wrong, expired or revoked\)/);
    await shot(page, '01-sign-in-error');
  });

  test('sign in with the platform key; a sandbox created from the form appears in the list as started', async () => {
    await page.$eval('input[name=apiKey]', (el) => ((el as HTMLInputElement).value = ''));
    await page.type('input[name=apiKey]', platform.apiKey);
    await page.click('form button[type=submit]');
    await page.waitForSelector('#page-title');
    assert.equal(await text(page, '#page-title'), 'Sandboxes');
    assert.equal(await page.evaluate(() => location.hash), '#/sandboxes');

    await page.locator('button::-p-text(New sandbox)').click();
    await page.waitForSelector('textarea[name=labels]');
    await page.type('textarea[name=labels]', 'suite=dashboard-e2e\nmade-by=ui-form');
    await page.type('input[name=autoStopInterval]', '0');
    await shot(page, '02-create-form');
    const t0 = Date.now();
    await page.locator('button::-p-text(Create)').click();
    await page.waitForSelector('.notice a[href^="#/sandboxes/"]', { timeout: CREATE_MS });
    uiSandboxId = decodeURIComponent((await page.$eval('.notice a', (a) => a.getAttribute('href')!)).replace('#/sandboxes/', ''));
    await waitForRowState(page, uiSandboxId, 'started', CREATE_MS);
    console.log(`[dashboard] UI create -> started in the list: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const row = await text(page, `tr[data-sandbox-id="${uiSandboxId}"]`);
    assert.match(row, /suite=dashboard-e2e/);
    assert.match(row, /made-by=ui-form/);
    const sb = await platform.sdk().get(uiSandboxId);
    assert.deepEqual(sb.labels, { suite: 'dashboard-e2e', 'made-by': 'ui-form' });
    assert.equal(sb.autoStopInterval, 0);
    await shot(page, '03-sandboxes');
  });

  test('hostile labels render as literal text and never run', async () => {
    hostile = await platform.sdk().create({ labels: HOSTILE, autoStopInterval: 0 }, { timeout: 180 });
    await page.waitForSelector(`tr[data-sandbox-id="${hostile.id}"]`, { timeout: 15_000 });
    const row = await text(page, `tr[data-sandbox-id="${hostile.id}"]`);
    assert.ok(row.includes(`x=${HOSTILE.x}`), row);
    assert.ok(row.includes(`y=${HOSTILE.y}`), row);
    // The detail page shows them again, in the labels and the editor.
    await page.goto(`${dashboard}#/sandboxes/${hostile.id}`, { waitUntil: 'load' });
    await page.waitForSelector('textarea');
    const labels = await page.$eval('.card .labels', (el) => (el as HTMLElement).innerText);
    assert.ok(labels.includes(HOSTILE.x) && labels.includes(HOSTILE.y), labels);
    assert.ok((await page.$eval('textarea', (el) => (el as HTMLTextAreaElement).value)).includes(`x=${HOSTILE.x}`));
    await shot(page, '04-sandbox-detail');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.$('img[src=x]'), null);
    assert.equal(await page.$$eval('script', (s) => s.length), 1, 'only the dashboard bundle is a script');
    await page.goto(`${dashboard}#/sandboxes`, { waitUntil: 'load' });
  });

  test('stop and start from the list change the state without a reload', async () => {
    const id = uiSandboxId!;
    await page.waitForSelector(`tr[data-sandbox-id="${id}"]`);
    await page.evaluate(() => ((window as unknown as { __sameDocument?: boolean }).__sameDocument = true));
    await page.click(`button[aria-label="Stop ${id}"]`);
    await waitForRowState(page, id, 'stopped');
    assert.equal((await platform.sdk().get(id)).state, 'stopped');
    // Start is offered once stopped; stop is not.
    assert.equal(await page.$eval(`button[aria-label="Stop ${id}"]`, (b) => (b as HTMLButtonElement).disabled), true);
    await page.click(`button[aria-label="Start ${id}"]`);
    await waitForRowState(page, id, 'started');
    assert.equal((await platform.sdk().get(id)).state, 'started');
    assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'the page reloaded');
  });

  test('the API keys page creates a key shown once, which works, and revokes it', async () => {
    await page.goto(`${dashboard}#/keys`, { waitUntil: 'load' });
    await page.waitForSelector('#api-keys');
    await page.locator('button::-p-text(New API key)').click();
    await page.type('input[name=name]', 'dashboard-ui-key');
    await page.click('input[name=permission][value="write:sandboxes"]');
    await page.locator('button::-p-text(Create key)').click();
    await page.waitForSelector('#new-key-value');
    const value = await text(page, '#new-key-value');
    assert.match(value, /^dtn_[0-9a-f]{64}$/);
    const current = await fetch(`${platform.apiUrl}/api-keys/current`, { headers: { authorization: `Bearer ${value}` } });
    assert.equal(current.status, 200);
    assert.deepEqual(((await current.json()) as { permissions: string[] }).permissions, ['write:sandboxes']);
    await page.waitForSelector('tr[data-key-name="dashboard-ui-key"]');
    // Listings never show the value again.
    assert.ok(!(await text(page, '#api-keys')).includes(value));
    await shot(page, '05-api-keys');
    await page.click('button[aria-label="Revoke dashboard-ui-key"]');
    await page.waitForFunction(() => !document.querySelector('tr[data-key-name="dashboard-ui-key"]'), { timeout: 15_000 });
    const revoked = await fetch(`${platform.apiUrl}/api-keys/current`, { headers: { authorization: `Bearer ${value}` } });
    assert.equal(revoked.status, 401);
  });

  test('a key revoked elsewhere ends its session at the next poll, with a message, keeping the page', async () => {
    const auth = { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' };
    const created = await fetch(`${platform.apiUrl}/api-keys`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'dashboard-e2e-second', permissions: ['write:sandboxes', 'delete:sandboxes'] }),
    });
    assert.equal(created.status, 201);
    const second = ((await created.json()) as { value: string }).value;
    const context = await browser!.createBrowserContext();
    try {
      const other = await watched(await context.newPage());
      await other.setViewport({ width: 1280, height: 900 });
      await signIn(other, second);
      await other.waitForSelector(`tr[data-sandbox-id="${uiSandboxId}"]`, { timeout: 15_000 });
      const del = await fetch(`${platform.apiUrl}/api-keys/dashboard-e2e-second`, { method: 'DELETE', headers: { authorization: auth.authorization } });
      assert.equal(del.status, 204);
      await other.waitForSelector('.signin .error', { timeout: 15_000 });
      assert.match(await text(other, '.signin .error'), /^Signed out: /);
      assert.equal(await other.evaluate(() => location.hash), '#/sandboxes');
      await shot(other, '06-signed-out');
    } finally {
      await context.close();
    }
  });

  test('at phone width (390x844) the list is there with a menu button', async () => {
    await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
    await page.goto(`${dashboard}#/sandboxes`, { waitUntil: 'load' });
    await page.waitForSelector(`tr[data-sandbox-id="${uiSandboxId}"]`);
    const visible = (sel: string) => page.$eval(sel, (el) => getComputedStyle(el).display !== 'none' && (el as HTMLElement).offsetWidth > 0);
    assert.equal(await visible('button.menu-toggle'), true);
    assert.equal(await visible('nav#nav'), false);
    assert.equal(await visible(`button[aria-label="Stop ${uiSandboxId}"]`), true);
    // Nothing but the table's own scroller is wider than the screen.
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390, 'the page scrolls sideways');
    await shot(page, '07-phone-list');
    await page.click('button.menu-toggle');
    assert.equal(await visible('nav#nav'), true);
    await shot(page, '08-phone-menu');
    await page.setViewport({ width: 1280, height: 900 });
  });

  test('a route change right after the page loads is followed (the router listens only after the first paint)', async () => {
    // What setViewport's reload followed by a goto did in the phone test above when the machine was idle: the hash
    // changed before the router's listener was there, and the page kept showing the old route. Made certain here by
    // changing it at DOMContentLoaded, after the first render and before any effect.
    await page.goto(`${dashboard}#/keys`, { waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelector('#page-title')?.textContent === 'API keys');
    const { identifier } = await page.evaluateOnNewDocument(() =>
      addEventListener('DOMContentLoaded', () => {
        if (location.hash === '#/keys') location.hash = '#/sandboxes';
      }),
    );
    try {
      await page.reload({ waitUntil: 'load' });
      assert.equal(await page.evaluate(() => location.hash), '#/sandboxes');
      await page.waitForFunction(() => document.querySelector('#page-title')?.textContent === 'Sandboxes', { timeout: 10_000 });
      await page.waitForSelector(`tr[data-sandbox-id="${uiSandboxId}"]`, { timeout: 10_000 });
    } finally {
      await page.removeScriptToEvaluateOnNewDocument(identifier);
    }
  });

  test('the platform pages (snapshots, volumes, registries, organization, audit, webhooks) render with real data and no error', async () => {
    await page.goto(`${dashboard}#/sandboxes`, { waitUntil: 'load' });
    await page.waitForSelector('nav#nav');
    const pages = await checkPlatformPages(page, dashboard, SCREENSHOTS);
    assert.deepEqual(
      pages.map((p) => [p.path, p.forbidden]),
      PLATFORM_PAGES.map((p) => [p.path, []]),
      'the platform key may see every page',
    );
  });

  test('delete from the list (after a confirmation) and no script error or CSP refusal on any page', async () => {
    const id = uiSandboxId!;
    await page.goto(`${dashboard}#/sandboxes`, { waitUntil: 'load' });
    await page.waitForSelector(`button[aria-label="Delete ${id}"]`);
    await page.click(`button[aria-label="Delete ${id}"]`);
    await page.waitForFunction(
      (sid: string) => {
        const badge = document.querySelector(`tr[data-sandbox-id="${sid}"] .badge`);
        return !badge || badge.textContent === 'destroying' || badge.textContent === 'destroyed';
      },
      { timeout: 60_000, polling: 250 },
      id,
    );
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
