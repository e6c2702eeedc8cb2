// Issue 16, the dashboard's OIDC sign-in in Debian's headless Chromium (puppeteer-core) against a real platform and a
// real issuer on loopback (oidc-provider, e2e/src/oidc-issuer.ts, with a public client for the dashboard that approves
// its test user at once). The browser runs the authorization-code flow with PKCE itself: a tampered `state` on return
// is an error and no session, and the issuer refuses the code with a wrong verifier; a real sign-in lists the personal
// organization's sandbox, the switcher shows the other organization's instead, and an expired token returns to the
// sign-in page keeping the page, which a new sign-in comes back to.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Daytona, type Sandbox } from '@daytonaio/sdk';
import puppeteer, { type Browser, type HTTPRequest, type Page } from 'puppeteer-core';
import { pickApiPort, startTestPlatform, type TestPlatform } from './src/harness.js';
import { startTestIssuer, type TestAccount, type TestIssuer } from './src/oidc-issuer.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

const USER: TestAccount = { sub: 'dashboard-oidc-user', email: 'dash@oidc.test', name: 'Dashboard User', email_verified: true };

let issuer: TestIssuer;
let platform: TestPlatform;
let browser: Browser | undefined;
let browserDir: string | undefined;
let page: Page;
let dashboard: string;
let personalOrg: string;
let teamOrg: string;
const sandboxes: Sandbox[] = [];
const pageErrors: string[] = [];
const cspViolations: string[] = [];

before(async () => {
  // The issuer must know the dashboard's URL (its redirect URI) before the platform it configures starts.
  const apiPort = await pickApiPort();
  dashboard = `http://127.0.0.1:${apiPort}/dashboard/`;
  issuer = await startTestIssuer({ browser: { redirectUri: dashboard, account: USER } });
  platform = await startTestPlatform({ apiPort, extraApiEnv: issuer.env() });
  assert.equal(`${platform.apiUrl.replace(/\/api$/, '')}/dashboard/`, dashboard);

  // The data, made with the SDK as the same user: one sandbox in the personal organization, one in a team's.
  const token = await issuer.mintToken(USER);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const orgs = (await (await fetch(`${platform.apiUrl}/organizations`, { headers })).json()) as Array<{ id: string; personal: boolean }>;
  personalOrg = orgs.find((o) => o.personal)!.id;
  const created = await fetch(`${platform.apiUrl}/organizations`, { method: 'POST', headers, body: JSON.stringify({ name: 'OIDC team' }) });
  assert.ok(created.ok, await created.clone().text());
  teamOrg = ((await created.json()) as { id: string }).id;
  const sdk = (organizationId: string) => new Daytona({ jwtToken: token, organizationId, apiUrl: platform.apiUrl, target: 'us' });
  sandboxes.push(
    ...(await Promise.all([
      sdk(personalOrg).create({ labels: { suite: 'dashboard-oidc', org: 'personal' } }, { timeout: 240 }),
      sdk(teamOrg).create({ labels: { suite: 'dashboard-oidc', org: 'team' } }, { timeout: 240 }),
    ])),
  );

  browserDir = await mkdtemp(join(tmpdir(), 'shoal-dashboard-oidc-chromium-'));
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: browserDir,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,900'],
    defaultViewport: { width: 1280, height: 900 },
  });
  page = await browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (browserDir) await rm(browserDir, { recursive: true, force: true });
  for (const sb of sandboxes) await deleteAndWait(platform, sb).catch(() => undefined);
  await platform?.close();
  await issuer?.stop();
});

const text = (selector: string) => page.$eval(selector, (el) => (el as HTMLElement).innerText);
const session = () => page.evaluate(() => sessionStorage.getItem('shoal.session'));
const row = (id: string) => `tr[data-sandbox-id="${id}"]`;

/** The sign-in page's issuer button, clicked: the browser goes to the issuer and (auto-approved) comes back. */
async function clickIssuerButton(): Promise<void> {
  const button = await page.waitForSelector('button.oidc-signin');
  assert.equal(await button!.evaluate((el) => el.textContent), `Sign in with ${issuer.issuer}`);
  await button!.click();
}

describe('the dashboard signs in with OIDC in headless Chromium', () => {
  test('a tampered state on return is an error and no session; the issuer refuses the code with a wrong verifier', async () => {
    const res = await page.goto(`${dashboard}#/sandboxes`, { waitUntil: 'load' });
    // The code exchange is a fetch to the issuer: its origin, and only it, is added to connect-src.
    assert.match(String(res?.headers()['content-security-policy']), new RegExp(`connect-src 'self' ${issuer.issuer.replace(/[.]/g, '\\.')};`));

    // Hold the issuer's redirect back to the dashboard, so the test can alter what the page receives.
    let held: string | undefined;
    const hold = (req: HTTPRequest) => {
      if (req.isNavigationRequest() && req.url().startsWith(`${dashboard}?`) && new URL(req.url()).searchParams.has('code')) {
        held = req.url();
        void req.respond({ status: 204, body: '' });
      } else void req.continue();
    };
    await page.setRequestInterception(true);
    page.on('request', hold);
    await clickIssuerButton();
    await eventually(() => held !== undefined, 'the issuer to redirect back with a code');
    page.off('request', hold);
    await page.setRequestInterception(false);
    const back = new URL(held!);

    // What the page saved before leaving: the request it made (S256 challenge of this verifier) and the state it expects.
    const pending = JSON.parse((await page.evaluate(() => sessionStorage.getItem('shoal.oidc.pending'))) ?? '{}') as { state: string; verifier: string; tokenEndpoint: string };
    assert.equal(back.searchParams.get('state'), pending.state);
    const wrongVerifier = await fetch(pending.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code')!,
        redirect_uri: dashboard,
        client_id: issuer.browserClientId!,
        code_verifier: `${pending.verifier.slice(1)}x`,
        resource: issuer.audience,
      }),
    });
    assert.equal(wrongVerifier.status, 400);
    assert.equal(((await wrongVerifier.json()) as { error: string }).error, 'invalid_grant');

    back.searchParams.set('state', `${pending.state.slice(1)}A`);
    await page.goto(back.toString(), { waitUntil: 'load' });
    await page.waitForSelector('.signin .error');
    assert.match(await text('.signin .error'), /state mismatch/);
    assert.equal(await session(), null);
    assert.equal(await page.$('#page-title'), null);
    // The code is gone from the address bar, the page asked for is kept.
    assert.equal(await page.evaluate(() => location.search), '');
    assert.equal(await page.evaluate(() => location.hash), '#/sandboxes');
  });

  test("sign in through the issuer: the personal organization's sandbox is listed; switching lists the team's", async () => {
    const [personal, team] = sandboxes;
    await clickIssuerButton();
    await page.waitForSelector('#page-title', { timeout: 30_000 });
    assert.equal(await text('#page-title'), 'Sandboxes');
    assert.equal(await page.evaluate(() => location.search), '');
    const s = JSON.parse((await session())!) as { token: string; via: string; organizationId: string };
    assert.equal(s.via, 'oidc');
    assert.equal(s.organizationId, personalOrg);
    // The access token for the API's audience, not the ID token (whose audience is the client).
    assert.equal((JSON.parse(Buffer.from(s.token.split('.')[1]!, 'base64url').toString()) as { aud: string }).aud, issuer.audience);

    await page.waitForSelector(row(personal!.id), { timeout: 30_000 });
    assert.equal(await page.$(row(team!.id)), null);

    await page.select('select[name=organization]', teamOrg);
    await page.waitForSelector(row(team!.id), { timeout: 30_000 });
    assert.equal(await page.$(row(personal!.id)), null);
    assert.equal((JSON.parse((await session())!) as { organizationId: string }).organizationId, teamOrg);
  });

  test('an expired token returns to sign-in keeping the page; signing in again comes back to it', async () => {
    await page.evaluate(() => (location.hash = '#/volumes'));
    await page.waitForFunction(() => document.querySelector('#page-title')?.textContent === 'Volumes');
    const expired = await issuer.mintToken(USER, { ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 2100));
    await page.evaluate((token: string, org: string) => sessionStorage.setItem('shoal.session', JSON.stringify({ token, via: 'oidc', organizationId: org })), expired, teamOrg);
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('.signin .error', { timeout: 30_000 });
    assert.match(await text('.signin .error'), /expired/);
    assert.equal(await page.evaluate(() => location.hash), '#/volumes');

    await clickIssuerButton();
    await page.waitForFunction(() => document.querySelector('#page-title')?.textContent === 'Volumes', { timeout: 30_000 });
    assert.equal(await page.evaluate(() => location.hash), '#/volumes');
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});

