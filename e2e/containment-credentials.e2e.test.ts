// No credential crosses into a sandbox (issue 9, items 1 and 6), seen from inside a real sandbox through the official
// SDK: an app in the sandbox echoes every request header it receives, and is reached through its preview URL with the
// API key, with the preview token (header and query), and with cookies named like the platform's. It must never see a
// `dtn_` key, the preview token, an X-Daytona-* header or a platform cookie. The toolbox port 2280 keeps working for
// the SDK (PTY, session follow) while the preview token alone no longer opens it. What the toolbox itself receives
// is asserted at the runner's proxy on a fake unix-socket toolbox (apps/runner/test/proxy-credentials.medium.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PtyHandle, Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { deleteAndWait, eventually } from './src/toolbox-helpers.js';

const ECHO_PORT = 8080;
const ECHO_SERVER = `
import json, http.server
class H(http.server.BaseHTTPRequestHandler):
    def echo(self):
        n = int(self.headers.get('content-length') or 0)
        if n: self.rfile.read(n)
        body = json.dumps({'path': self.path, 'headers': [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = echo
    do_POST = echo
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(('0.0.0.0', ${ECHO_PORT}), H).serve_forever()
`;

let platform: TestPlatform;
let sb: Sandbox;
let readOnlyKey: string;

interface Echo {
  path: string;
  headers: Array<[string, string]>;
}

async function startEcho(): Promise<void> {
  await sb.fs.uploadFile(Buffer.from(ECHO_SERVER), '/tmp/echo.py');
  const sid = `echo-${Date.now()}`;
  await sb.process.createSession(sid);
  await sb.process.executeSessionCommand(sid, { command: 'python3 /tmp/echo.py', runAsync: true });
  const link = await sb.getPreviewLink(ECHO_PORT);
  await eventually(async () => (await fetch(`${link.url}/ready`, { headers: { 'x-daytona-preview-token': link.token } })).status === 200, 'the echo server through its preview URL');
}

async function echo(path: string, headers: Record<string, string>): Promise<{ status: number; echo: Echo; text: string }> {
  const link = await sb.getPreviewLink(ECHO_PORT);
  const res = await fetch(`${link.url}${path}`, { headers });
  const text = await res.text();
  return { status: res.status, echo: res.status === 200 ? (JSON.parse(text) as Echo) : { path: '', headers: [] }, text };
}

/** Everything the app saw must be free of platform credentials; `appCookie`, when sent, must arrive intact. */
function assertNothingSecret(e: Echo, secrets: string[], appCookie?: string): void {
  const text = JSON.stringify(e);
  assert.ok(!/dtn_/.test(text), `the app saw an API key: ${text}`);
  for (const s of secrets) assert.ok(!text.includes(s), `the app saw ${s}: ${text}`);
  const names = e.headers.map(([k]) => k.toLowerCase());
  assert.ok(!names.includes('authorization'), `Authorization reached the app: ${text}`);
  assert.deepEqual(names.filter((n) => n.startsWith('x-daytona-')), [], `X-Daytona-* reached the app: ${text}`);
  const cookie = e.headers.find(([k]) => k.toLowerCase() === 'cookie')?.[1] ?? '';
  assert.ok(!/(^|;\s*)(daytona|shoal)/i.test(cookie), `a platform cookie reached the app: ${cookie}`);
  if (appCookie) assert.ok(cookie.split(/;\s*/).includes(appCookie), `the app's own cookie ${appCookie} is missing: ${cookie}`);
}

before(async () => {
  platform = await startTestPlatform();
  sb = await platform.sdk().create({ autoStopInterval: 0 }, { timeout: 180 });
  const key = await fetch(`${platform.apiUrl}/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `read-only-${Date.now()}`, permissions: ['delete:sandboxes'] }),
  });
  assert.equal(key.status, 201);
  readOnlyKey = ((await key.json()) as { value: string }).value;
  await startEcho();
});

after(async () => {
  if (sb) await deleteAndWait(platform, sb).catch(() => undefined);
  await platform?.close();
});

describe('an app in the sandbox never sees a platform credential', () => {
  const platformCookies = 'daytona-session=cookie-secret-1; myapp=kept; shoal_session=cookie-secret-2; DaytonaAuth=cookie-secret-3';
  const cookieSecrets = ['cookie-secret-1', 'cookie-secret-2', 'cookie-secret-3'];

  test('reached with the API key (and platform cookies)', async () => {
    const r = await echo('/with-key', { authorization: `Bearer ${platform.apiKey}`, cookie: platformCookies });
    assert.equal(r.status, 200, r.text);
    assertNothingSecret(r.echo, [platform.apiKey, ...cookieSecrets], 'myapp=kept');
  });

  test('reached with the preview token in the header, with the SDK-style extra X-Daytona headers', async () => {
    const { token } = await sb.getPreviewLink(ECHO_PORT);
    const r = await echo('/with-token', {
      'x-daytona-preview-token': token,
      'x-daytona-source': 'sdk-typescript',
      'x-daytona-sdk-version': '0.108.1',
      'x-daytona-organization-id': 'some-organization',
      cookie: platformCookies,
    });
    assert.equal(r.status, 200, r.text);
    assertNothingSecret(r.echo, [token, ...cookieSecrets], 'myapp=kept');
  });

  test('reached with the preview token in the query: the parameter is removed, the rest of the query stays', async () => {
    const { token } = await sb.getPreviewLink(ECHO_PORT);
    const r = await echo(`/with-query?DAYTONA_SANDBOX_AUTH_KEY=${token}&keep=1`, {});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.path, '/with-query?keep=1');
    assertNothingSecret(r.echo, [token]);
  });

  test('reached with the key, the token and the cookies together, as a browser tab of a logged-in user would', async () => {
    const { token } = await sb.getPreviewLink(ECHO_PORT);
    const r = await echo(`/all?DAYTONA_SANDBOX_AUTH_KEY=${token}`, { authorization: `Bearer ${platform.apiKey}`, 'x-daytona-preview-token': token, cookie: platformCookies });
    assert.equal(r.status, 200, r.text);
    assertNothingSecret(r.echo, [platform.apiKey, token, ...cookieSecrets], 'myapp=kept');
  });
});

describe('the toolbox port 2280', () => {
  test('the SDK still follows a session command and drives a PTY over its 2280 WebSockets', async () => {
    const sid = `follow-${Date.now()}`;
    await sb.process.createSession(sid);
    const started = await sb.process.executeSessionCommand(sid, { command: 'for i in 1 2 3; do echo tick$i; sleep 0.2; done', runAsync: true });
    let followed = '';
    await sb.process.getSessionCommandLogs(sid, started.cmdId!, (c) => (followed += c), () => undefined);
    assert.match(followed, /tick1[\s\S]*tick3/);
    await sb.process.deleteSession(sid);

    const decoder = new TextDecoder();
    let text = '';
    const pty: PtyHandle = await sb.process.createPty({ id: `pty-${Date.now()}`, cols: 120, rows: 30, onData: (b: Uint8Array) => void (text += decoder.decode(b, { stream: true })) });
    await pty.waitForConnection();
    await pty.sendInput('echo PTY-$((6*7)); exit\n');
    await eventually(() => /PTY-42/.test(text), 'the PTY echo');
    await pty.wait();
    await pty.disconnect();
  });

  test('the preview token alone does not open 2280 (header or query), not even on a public sandbox', async () => {
    const link = await sb.getPreviewLink(2280);
    const tries = async () => [
      (await fetch(`${link.url}/version`, { headers: { 'x-daytona-preview-token': link.token } })).status,
      (await fetch(`${link.url}/version?DAYTONA_SANDBOX_AUTH_KEY=${link.token}`)).status,
      (await fetch(`${link.url}/version`)).status,
      (await fetch(`${link.url}/version`, { headers: { authorization: `Bearer ${readOnlyKey}`, 'x-daytona-preview-token': link.token } })).status,
    ];
    assert.deepEqual(await tries(), [401, 401, 401, 403]);
    const setPublic = async (value: boolean) => {
      const r = await fetch(`${platform.apiUrl}/sandbox/${sb.id}/public/${value}`, { method: 'POST', headers: { authorization: `Bearer ${platform.apiKey}` } });
      assert.ok(r.status < 300, await r.text());
    };
    await setPublic(true);
    try {
      assert.deepEqual(await tries(), [401, 401, 401, 403]);
    } finally {
      await setPublic(false);
    }
    // The key the SDK sends opens it.
    const ok = await fetch(`${link.url}/version`, { headers: { authorization: `Bearer ${platform.apiKey}`, 'x-daytona-preview-token': link.token } });
    assert.equal(ok.status, 200, await ok.text());
  });

  test('a key without write:sandboxes cannot get the preview link of 2280 through the SDK', async () => {
    const mine = await platform.sdk(readOnlyKey).get(sb.id);
    await assert.rejects(mine.getPreviewLink(2280));
    const app = await mine.getPreviewLink(ECHO_PORT);
    assert.ok(app.token.length >= 16);
  });
});

describe('preview token rotation', () => {
  test('a stop and start invalidates every link handed out before; getPreviewLink returns the current token', async () => {
    const before = await sb.getPreviewLink(ECHO_PORT);
    assert.equal((await fetch(`${before.url}/before`, { headers: { 'x-daytona-preview-token': before.token } })).status, 200);
    await sb.stop();
    await sb.start(120);
    const now = await sb.getPreviewLink(ECHO_PORT);
    assert.notEqual(now.token, before.token);
    assert.equal((await fetch(`${before.url}/stale`, { headers: { 'x-daytona-preview-token': before.token } })).status, 401);
    await startEcho();
    const r = await fetch(`${now.url}/fresh`, { headers: { 'x-daytona-preview-token': now.token } });
    assert.equal(r.status, 200, await r.text());
  });
});
