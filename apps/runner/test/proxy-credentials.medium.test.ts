// The runner's proxy is the second line behind the API's (issue 9): whatever reaches it, the toolbox on its unix socket
// and an app port in the sandbox never see the caller's API key, the runner's credentials, any X-Daytona-* header or
// the platform's cookies. A fake toolbox on a real unix socket records what arrives, for HTTP and WebSocket upgrades.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { proxyHttp, proxyUpgrade } from '../src/proxy/proxy.js';

const RUNNER_TOKEN = 'runner-token-never-forwarded-0123456789';
let dir: string;
let toolbox: http.Server;
let front: http.Server;
let base: string;
const seen: http.IncomingHttpHeaders[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-proxy-cred-'));
  const socketPath = join(dir, 'toolbox.sock');
  const wss = new WebSocketServer({ noServer: true });
  toolbox = http.createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  toolbox.on('upgrade', (req, socket, head) => {
    seen.push(req.headers);
    wss.handleUpgrade(req, socket, head, (ws) => ws.send('hello'));
  });
  await new Promise<void>((r) => toolbox.listen(socketPath, r));
  // Stands in for the runner's routes: everything goes to the toolbox socket, as port 2280 does.
  front = http.createServer((req, res) => proxyHttp(req, res, { socketPath }, req.url ?? '/', RUNNER_TOKEN));
  front.on('upgrade', (req, socket, head) => proxyUpgrade(req, socket, head, { socketPath }, req.url ?? '/', RUNNER_TOKEN));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  base = `127.0.0.1:${(front.address() as AddressInfo).port}`;
});

after(async () => {
  front?.closeAllConnections();
  toolbox?.closeAllConnections();
  await new Promise((r) => front?.close(r));
  await new Promise((r) => toolbox?.close(r));
  await rm(dir, { recursive: true, force: true });
});

const hostile = {
  authorization: 'Bearer dtn_0123456789abcdef',
  'x-daytona-authorization': `Bearer ${RUNNER_TOKEN}`,
  'x-daytona-preview-token': 'preview-token-secret',
  'x-daytona-organization-id': 'org-1',
  // Distinctive values: a short one ('c1') can turn up by chance in the random Sec-WebSocket-Key of an upgrade.
  cookie: 'daytona-session=session-secret-1x9q; app=kept; SHOAL_auth=shoal-secret-2x9q',
  'x-app': 'kept',
};

function assertClean(h: http.IncomingHttpHeaders): void {
  const text = JSON.stringify(h);
  assert.equal(h.authorization, undefined);
  assert.deepEqual(Object.keys(h).filter((k) => k.startsWith('x-daytona-')), []);
  assert.equal(h.cookie, 'app=kept');
  assert.equal(h['x-app'], 'kept');
  for (const secret of ['dtn_', RUNNER_TOKEN, 'preview-token-secret', 'session-secret-1x9q', 'shoal-secret-2x9q']) assert.ok(!text.includes(secret), `${secret} reached the toolbox: ${text}`);
}

test('HTTP to the toolbox socket carries no credential', async () => {
  const res = await fetch(`http://${base}/process/execute`, { headers: hostile });
  assert.equal(await res.text(), 'ok');
  assertClean(seen.at(-1)!);
});

test('a WebSocket upgrade to the toolbox socket (PTY, session follow) carries no credential', async () => {
  const ws = new WebSocket(`ws://${base}/process/pty/p1/connect`, { headers: hostile });
  const first = await new Promise<string>((resolve, reject) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.once('error', reject);
  });
  ws.close();
  assert.equal(first, 'hello');
  const h = seen.at(-1)!;
  assert.equal(h.upgrade, 'websocket');
  assertClean(h);
});
