// The dashboard as the API serves it (issue 16): one page and its bundled assets under /dashboard/, readable without
// an API key (the key is typed into the page), with a strict Content-Security-Policy, and nothing else of the disk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DASHBOARD_DIST_DIR } from '@shoal/dashboard';
import type { ShoalApp } from '../src/app.js';
import { DASHBOARD_CSP } from '../src/dashboard/dashboard-routes.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { buildTestApp } from './helpers/app.js';

let db: TestDatabase;
let app: ShoalApp;

before(async () => {
  // `npm test` builds the dashboard in bootstrap; a lone run of this file on a fresh clone builds it here.
  if (!existsSync(join(DASHBOARD_DIST_DIR, 'index.html'))) {
    execFileSync(process.execPath, [join(DASHBOARD_DIST_DIR, '..', 'scripts', 'build.mjs')], { stdio: 'inherit' });
  }
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false });
});

after(async () => {
  await app?.close();
  await db?.drop();
});

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

test('/dashboard redirects to /dashboard/', async () => {
  const res = await get('/dashboard');
  assert.equal(res.statusCode, 302);
  assert.equal(res.headers.location, '/dashboard/');
});

test('/dashboard/ is the page, with the CSP, nosniff and no-framing headers, and needs no API key', async () => {
  for (const headers of [{}, { authorization: 'Bearer dtn_wrong' }] as Record<string, string>[]) {
    const res = await get('/dashboard/', headers);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.equal(res.headers['content-security-policy'], DASHBOARD_CSP);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.match(res.body, /<div id="app"><\/div>/);
    assert.match(res.body, /<script type="module" src="assets\/app\.js"><\/script>/);
  }
  const csp = Object.fromEntries(DASHBOARD_CSP.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
  // Scripts only from the dashboard's own files: no inline script, no eval, no other origin.
  assert.equal(csp['script-src'], "'self'");
  assert.equal(csp['connect-src'], "'self'");
  assert.equal(csp['default-src'], "'none'");
  assert.equal(csp['frame-ancestors'], "'none'");
});

test('assets are served with their types and the same headers', async () => {
  const js = await get('/dashboard/assets/app.js');
  assert.equal(js.statusCode, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['x-content-type-options'], 'nosniff');
  assert.equal(js.headers['content-security-policy'], DASHBOARD_CSP);
  assert.ok(js.body.length > 1000, 'the bundle is empty');
  const css = await get('/dashboard/assets/app.css');
  assert.equal(css.statusCode, 200);
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
});

test('path traversal, encoded slashes, dot files and unknown names are 404, never a file outside assets/', async () => {
  const urls = [
    '/dashboard/assets/..%2f..%2fpackage.json',
    '/dashboard/assets/..%2Findex.html',
    '/dashboard/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/dashboard/assets/%2e%2e/%2e%2e/package.json',
    '/dashboard/assets/..%5c..%5cpackage.json',
    '/dashboard/assets/%2fetc%2fpasswd',
    '/dashboard/assets/.env',
    '/dashboard/assets/.app.js',
    '/dashboard/assets/app.js%00.css',
    '/dashboard/assets/nope.js',
    '/dashboard/assets/app.ts',
    '/dashboard/assets/app',
    '/dashboard/assets/',
    '/dashboard/index.html',
    '/dashboard/package.json',
    '/dashboard/assets/sub/app.js',
  ];
  for (const url of urls) {
    const res = await get(url);
    assert.equal(res.statusCode, 404, `${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    assert.doesNotMatch(res.body, /"name":\s*"@shoal|root:x:0:0/, url);
  }
  // The error is the API's envelope, not a file listing or a stack.
  const res = await get('/dashboard/assets/..%2f..%2fpackage.json');
  assert.equal((res.json() as { statusCode: number }).statusCode, 404);
});

test('GET /config names the dashboard as the reference does (dashboardUrl), and it is served there', async () => {
  const config = (await get('/api/config')).json() as { dashboardUrl: string };
  const url = new URL(config.dashboardUrl);
  assert.equal(url.pathname, '/dashboard/');
  assert.equal((await get(url.pathname)).statusCode, 200);
});

test('a browser that takes gzip gets the build-time gzip copy of an asset, the same bytes once decoded; others get it plain', async () => {
  const plain = await get('/dashboard/assets/app.js');
  assert.equal(plain.statusCode, 200);
  assert.equal(plain.headers['content-encoding'], undefined);
  const zipped = await get('/dashboard/assets/app.js', { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(zipped.statusCode, 200);
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'accept-encoding');
  assert.equal(zipped.headers['content-security-policy'], DASHBOARD_CSP);
  assert.ok(zipped.rawPayload.length < plain.rawPayload.length / 2, `gzip ${zipped.rawPayload.length} vs ${plain.rawPayload.length} bytes`);
  assert.ok(gunzipSync(zipped.rawPayload).equals(plain.rawPayload));
  // The .gz files are the server's, not assets of their own.
  assert.equal((await get('/dashboard/assets/app.js.gz')).statusCode, 404);
});

test('with an OIDC issuer configured, connect-src adds exactly its origin (the browser exchanges the code there); without, it is self only', async () => {
  const directives = (csp: unknown) => Object.fromEntries(String(csp).split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
  // Without an issuer (this file's app): the page and its assets allow connections to the API's own origin only.
  for (const url of ['/dashboard/', '/dashboard/assets/app.js']) {
    assert.equal(directives((await get(url)).headers['content-security-policy'])['connect-src'], "'self'", url);
  }
  const withIssuer = await buildTestApp(db.url, {
    background: false,
    env: { SHOAL_OIDC_ISSUER: 'https://login.example.test:8443/realms/shoal/', SHOAL_OIDC_AUDIENCE: 'urn:shoal:api', SHOAL_OIDC_CLIENT_ID: 'shoal-dashboard' },
  });
  try {
    const config = (await withIssuer.inject({ method: 'GET', url: '/api/config' })).json() as { oidc?: { issuer: string; clientId: string } };
    assert.deepEqual(config.oidc, { issuer: 'https://login.example.test:8443/realms/shoal', clientId: 'shoal-dashboard', audience: 'urn:shoal:api' });
    for (const [url, headers] of [
      ['/dashboard/', {}],
      ['/dashboard/assets/app.js', {}],
      ['/dashboard/assets/app.js', { 'accept-encoding': 'gzip' }],
    ] as const) {
      const res = await withIssuer.inject({ method: 'GET', url, headers });
      assert.equal(res.statusCode, 200, url);
      const csp = directives(res.headers['content-security-policy']);
      // The origin only: no path, and the scheme and port as configured.
      assert.equal(csp['connect-src'], "'self' https://login.example.test:8443", url);
      // Nothing else loosens: scripts, frames and form targets stay the dashboard's own.
      assert.deepEqual({ ...csp, 'connect-src': "'self'" }, directives(DASHBOARD_CSP), url);
    }
  } finally {
    await withIssuer.close();
  }
});
