import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import WebSocket from 'ws';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'proxy-fake-runner-token-123';
let db: TestDatabase;
let runner: FakeRunner;
let app: ShoalApp;
let base: string;
let sandboxId: string;
let previewToken: string;
let other: Awaited<ReturnType<typeof createTenant>>;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url, { env: { SHOAL_PREVIEW_DOMAIN: 'preview.test' } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  await registerRunner(app, runner.url, TOKEN);
  other = await createTenant(app, 'proxy-tenant');
  sandboxId = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} })).json() as { id: string }).id;
  previewToken = ((await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/3000/preview-url`, headers: adminAuth })).json() as { token: string }).token;
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

type Forwarded = { forwarded: { method: string; path: string; search: string; bytes: number; contentType: string | null; authorization: string | null } };

describe('toolbox proxy', () => {
  test('forwards method, path, raw query and body; keeps the caller\'s API key away from the sandbox', async () => {
    const res = await request(`${base}/api/toolbox/${sandboxId}/toolbox/files?path=a+b.txt&x=%2F`, {
      method: 'DELETE',
      headers: { ...adminAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'branch' }),
    });
    assert.equal(res.statusCode, 200);
    const f = ((await res.body.json()) as Forwarded).forwarded;
    assert.equal(f.method, 'DELETE');
    assert.equal(f.path, `/sandboxes/${sandboxId}/toolbox/files`);
    assert.equal(f.search, '?path=a+b.txt&x=%2F');
    assert.equal(f.bytes, JSON.stringify({ name: 'branch' }).length);
    assert.equal(f.authorization, null);
  });

  test('execute returns the daemon answer as is', async () => {
    // The fake answers with the command it received: the body crossed the proxy intact and the answer came back as is.
    const command = `printf '%s' "a b" ; echo ${sandboxId}`;
    const res = await app.inject({ method: 'POST', url: `/api/toolbox/${sandboxId}/toolbox/process/execute`, headers: adminAuth, payload: { command } });
    assert.deepEqual(res.json(), { exitCode: 0, result: command });
  });

  test('streams a 64 MiB chunked multipart upload through', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let sent = 0;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) {
          sent += chunk.length;
          yield chunk;
        }
      })(),
    );
    const res = await request(`${base}/api/toolbox/${sandboxId}/toolbox/files/upload?path=/tmp/x`, {
      method: 'POST',
      headers: { ...adminAuth, 'content-type': 'multipart/form-data; boundary=xyz' },
      body,
    });
    const f = ((await res.body.json()) as Forwarded).forwarded;
    assert.equal(f.bytes, sent);
    assert.equal(f.contentType, 'multipart/form-data; boundary=xyz');
  });

  test('an upload that asks for 100-continue first (curl does for large files) is let through and arrives whole', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 5);
    const url = new URL(`${base}/api/toolbox/${sandboxId}/toolbox/files/upload?path=/tmp/y`);
    const answer = await new Promise<{ status: number; continued: boolean; text: string }>((resolve, reject) => {
      let continued = false;
      const req = http.request(url, {
        method: 'POST',
        headers: { ...adminAuth, 'content-type': 'application/octet-stream', 'content-length': body.length, expect: '100-continue' },
      });
      // As curl: the body waits for the server's interim answer.
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, continued, text }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(answer.status, 200, answer.text);
    assert.ok(answer.continued, 'the proxy answered 100 Continue');
    const f = (JSON.parse(answer.text) as Forwarded & { forwarded: { headers: Record<string, string> } }).forwarded;
    assert.equal(f.bytes, body.length);
    assert.equal(f.headers.expect, undefined, 'the interim answer was the proxy\'s; the runner is not asked again');
  });

  test('auth, organization and state checks', async () => {
    const url = `/api/toolbox/${sandboxId}/toolbox/work-dir`;
    assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401);
    const foreign = await app.inject({ method: 'GET', url, headers: other.auth });
    assert.equal(foreign.statusCode, 404);
    assert.equal((foreign.json() as { statusCode: number }).statusCode, 404);
    const stopped = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} })).json() as { id: string }).id;
    await app.inject({ method: 'POST', url: `/api/sandbox/${stopped}/stop`, headers: adminAuth });
    const notRunning = await app.inject({ method: 'GET', url: `/api/toolbox/${stopped}/toolbox/work-dir`, headers: adminAuth });
    assert.equal(notRunning.statusCode, 400);
    assert.equal((notRunning.json() as { message: string }).message, 'Sandbox is not running');
  });

  test('WebSocket upgrade reaches the runner and echoes; unauthenticated upgrade is refused', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/toolbox/${sandboxId}/toolbox/process/pty/p1/connect`, { headers: adminAuth });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    assert.deepEqual(JSON.parse(first), { type: 'control', status: 'connected', path: `/sandboxes/${sandboxId}/toolbox/process/pty/p1/connect` });
    assert.equal(ws.protocol, '');
    ws.send('ping');
    assert.equal(await new Promise<string>((r) => ws.once('message', (d) => r(String(d)))), 'echo:ping');
    ws.close();
    const refused = new WebSocket(`${base.replace('http', 'ws')}/api/toolbox/${sandboxId}/toolbox/process/pty/p1/connect`);
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(status, 401);
  });

  test('a browser\'s key offered as a subprotocol opens the toolbox WebSocket and never reaches the sandbox', async () => {
    const key = adminAuth.authorization.slice('Bearer '.length);
    const url = `${base.replace('http', 'ws')}/api/toolbox/${sandboxId}/toolbox/process/pty/browser/connect`;
    const ws = new WebSocket(url, ['shoal.v1', `shoal.api-key.${key}`]);
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    assert.equal((JSON.parse(first) as { status: string }).status, 'connected');
    assert.equal(ws.protocol, 'shoal.v1');
    ws.close();
    const seen = runner.upgrades.find((u) => u.path.endsWith('/process/pty/browser/connect'));
    assert.ok(seen);
    assert.equal(seen.headers['sec-websocket-protocol'], 'shoal.v1');
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!JSON.stringify(seen.headers).includes(key), 'the API key reached the runner');
    const wrong = new WebSocket(url, ['shoal.v1', 'shoal.api-key.dtn_not-a-key']);
    const status = await new Promise<number>((resolve) => wrong.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(status, 401);
  });
});

describe('preview proxy', () => {
  test('path form with the preview token header; the query token is accepted and stripped', async () => {
    const viaHeader = await request(`${base}/preview/3000-${sandboxId}/index.html?q=1`, { headers: { 'x-daytona-preview-token': previewToken } });
    assert.equal(viaHeader.statusCode, 200);
    const f = ((await viaHeader.body.json()) as Forwarded).forwarded;
    assert.equal(f.path, `/sandboxes/${sandboxId}/ports/3000/index.html`);
    const viaQuery = await request(`${base}/preview/3000-${sandboxId}/x?DAYTONA_SANDBOX_AUTH_KEY=${previewToken}&keep=1`);
    const g = ((await viaQuery.body.json()) as Forwarded).forwarded;
    assert.equal(g.search, '?keep=1');
  });

  test('host form {port}-{id}.{domain}, API key of the organization, wrong credentials', async () => {
    const viaHost = await request(`${base}/a/b`, { headers: { host: `3000-${sandboxId}.preview.test`, ...adminAuth } });
    assert.equal(viaHost.statusCode, 200);
    assert.equal(((await viaHost.body.json()) as Forwarded).forwarded.path, `/sandboxes/${sandboxId}/ports/3000/a/b`);
    const wrong = await request(`${base}/preview/3000-${sandboxId}/`, { headers: { 'x-daytona-preview-token': 'nope' } });
    assert.equal(wrong.statusCode, 401);
    await wrong.body.dump();
    // Another organization's key gets the answer of a missing sandbox: a 403 would confirm the id exists.
    const foreignKey = await request(`${base}/preview/3000-${sandboxId}/`, { headers: other.auth });
    assert.equal(foreignKey.statusCode, 404);
    await foreignKey.body.dump();
  });

  test('the query token sets the signed preview cookie a browser\'s later requests use; forged or stale cookies are refused', async () => {
    const first = await request(`${base}/preview/6080-${sandboxId}/vnc.html?DAYTONA_SANDBOX_AUTH_KEY=${previewToken}`);
    assert.equal(first.statusCode, 200);
    await first.body.dump();
    const setCookie = [first.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith(`daytona-sandbox-auth-${sandboxId}=`));
    assert.ok(setCookie, 'no preview cookie was set');
    assert.match(setCookie, /HttpOnly/);
    const cookie = setCookie.split(';')[0]!;
    assert.ok(!cookie.includes(previewToken), 'the cookie must not carry the token itself');
    const later = await request(`${base}/preview/6080-${sandboxId}/app/ui.js`, { headers: { cookie: `theme=dark; ${cookie}` } });
    assert.equal(later.statusCode, 200);
    assert.equal(((await later.body.json()) as Forwarded).forwarded.path, `/sandboxes/${sandboxId}/ports/6080/app/ui.js`);
    // A header token sets nothing (the SDK is not a browser).
    const header = await request(`${base}/preview/6080-${sandboxId}/x`, { headers: { 'x-daytona-preview-token': previewToken } });
    assert.equal(header.headers['set-cookie'], undefined);
    await header.body.dump();
    for (const bad of [`daytona-sandbox-auth-${sandboxId}=${previewToken}`, `${cookie}x`, `daytona-sandbox-auth-other=${cookie.split('=')[1]}`]) {
      const res = await request(`${base}/preview/6080-${sandboxId}/app/ui.js`, { headers: { cookie: bad } });
      assert.equal(res.statusCode, 401, bad);
      await res.body.dump();
    }
    const ws = new WebSocket(`${base.replace('http', 'ws')}/preview/6080-${sandboxId}/websockify`, { headers: { cookie } });
    const wsStatus = await new Promise<number>((resolve) => {
      ws.on('open', () => resolve(101));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(0));
    });
    ws.terminate();
    assert.notEqual(wsStatus, 401, 'the WebSocket handshake with the cookie was refused');
    assert.equal((await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/preview-token/rotate`, headers: adminAuth })).statusCode < 300, true);
    const stale = await request(`${base}/preview/6080-${sandboxId}/app/ui.js`, { headers: { cookie } });
    assert.equal(stale.statusCode, 401, 'a rotated token must revoke the cookie');
    await stale.body.dump();
    previewToken = ((await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/3000/preview-url`, headers: adminAuth })).json() as { token: string }).token;
  });

  test('public sandboxes need no credentials except on the toolbox port 2280', async () => {
    await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/public/true`, headers: adminAuth });
    const open = await request(`${base}/preview/3000-${sandboxId}/`);
    assert.equal(open.statusCode, 200);
    await open.body.dump();
    const toolbox = await request(`${base}/preview/2280-${sandboxId}/`);
    assert.equal(toolbox.statusCode, 401);
    await toolbox.body.dump();
    assert.equal((await app.inject({ method: 'GET', url: `/api/preview/${sandboxId}/public` })).body, 'true');
    assert.equal((await app.inject({ method: 'GET', url: `/api/preview/${sandboxId}/validate/${previewToken}` })).body, 'true');
    assert.equal((await app.inject({ method: 'GET', url: `/api/preview/${sandboxId}/validate/wrong` })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: `/api/preview/${sandboxId}/access`, headers: other.auth })).statusCode, 404);
    await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/public/false`, headers: adminAuth });
    assert.equal((await app.inject({ method: 'GET', url: `/api/preview/${sandboxId}/public` })).statusCode, 404);
  });

  test('WebSocket over the SDK path form (port 2280) with the API key and preview token, as the SDK sends them', async () => {
    const url = ((await app.inject({ method: 'GET', url: `/api/sandbox/${sandboxId}/ports/2280/preview-url`, headers: adminAuth })).json() as { url: string }).url;
    // With SHOAL_PREVIEW_DOMAIN set the URL is the host form; connect through the path form the loopback default uses.
    assert.equal(url, `http://2280-${sandboxId}.preview.test`);
    const ws = new WebSocket(`${base.replace('http', 'ws')}/preview/2280-${sandboxId}/process/pty/abc/connect`, {
      headers: { ...adminAuth, 'x-daytona-preview-token': previewToken },
      protocol: undefined,
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    assert.equal((JSON.parse(first) as { path: string }).path, `/sandboxes/${sandboxId}/ports/2280/process/pty/abc/connect`);
    assert.equal(ws.protocol, '');
    ws.close();
  });
});
