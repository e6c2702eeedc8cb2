// SSH access from the API's side: validateSshAccess answers only the SSH gateway's service credential, and tells it
// nothing about tokens that are unknown, expired, revoked or of a deleted sandbox; the gateway's credential opens the
// streaming process of exactly the sandbox its user's token names, and nothing else; createSshAccess names the
// gateway in sshCommand; GET /runners/by-snapshot-ref lists the runners that hold the image.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import WebSocket from 'ws';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_DEFAULT_IMAGE, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner, retireRunner, sshGatewayAuth } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'ssh-access-runner-token-0123456789abcdef';
const OTHER_TOKEN = 'ssh-access-runner-token-two-0123456789ab';
let db: TestDatabase;
let app: ShoalApp;
let runner: FakeRunner;
let base: string;
let runnerId: string;
let sandboxId: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;

const validate = (token: string, headers: Record<string, string> = sshGatewayAuth) =>
  app.inject({ method: 'GET', url: `/api/sandbox/ssh-access/validate?token=${encodeURIComponent(token)}`, headers });

async function createToken(id = sandboxId, auth = adminAuth, minutes = 30): Promise<{ token: string; sshCommand?: string }> {
  const res = await app.inject({ method: 'POST', url: `/api/sandbox/${id}/ssh-access?expiresInMinutes=${minutes}`, headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { token: string; sshCommand?: string };
}

async function waitStarted(id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const sb = (await app.inject({ method: 'GET', url: `/api/sandbox/${id}`, headers: adminAuth })).json() as { state: string };
    if (sb.state === 'started') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sandbox ${id} never started`);
}

/** Opens the streaming-process WebSocket through the API's proxy; 101 when it opened, else the refusal's status. */
function openStream(id: string, headers: Record<string, string>, path = '/process/stream'): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/toolbox/${id}/toolbox${path}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN, holds: (ref) => ref === TEST_DEFAULT_IMAGE || ref === 'registry.test/held:1' }).start();
  app = await buildTestApp(db.url, { env: { SHOAL_SSH_GATEWAY_ADDRESS: 'gateway.test:2222' } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  runnerId = await registerRunner(app, runner.url, TOKEN);
  tenant = await createTenant(app, 'ssh-access-tenant');
  sandboxId = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} })).json() as { id: string }).id;
  await waitStarted(sandboxId);
});

after(async () => {
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

test('validateSshAccess answers only the gateway credential; the credential opens nothing else', async () => {
  const { token } = await createToken();
  assert.equal((await validate(token, {})).statusCode, 401);
  assert.equal((await validate(token, adminAuth)).statusCode, 403);
  assert.equal((await validate(token, tenant.auth)).statusCode, 403);
  assert.equal((await validate(token, { authorization: `Bearer ${TOKEN}` })).statusCode, 403);
  assert.equal((await validate(token, { authorization: `Bearer ${sshGatewayAuth.authorization.slice(7)}x` })).statusCode, 401);
  const ok = await validate(token);
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { valid: true, sandboxId, runnerId, runnerDomain: 'runner-1.test' });
  for (const [method, url] of [
    ['GET', '/api/sandbox'],
    ['GET', `/api/sandbox/${sandboxId}`],
    ['POST', `/api/sandbox/${sandboxId}/ssh-access`],
    ['GET', '/api/runners'],
    ['GET', '/api/sandbox/for-runner?states=started'],
  ] as const) {
    assert.equal((await app.inject({ method, url, headers: sshGatewayAuth })).statusCode, 403, `${method} ${url}`);
  }
});

test('unknown, expired, revoked and deleted-sandbox tokens all answer {valid:false, sandboxId:null}', async () => {
  const invalid = { valid: false, sandboxId: null };
  assert.deepEqual((await validate('no-such-token-0123456789abcdef01')).json(), invalid);
  assert.deepEqual((await validate('')).json(), invalid);

  const expired = await createToken();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`UPDATE ssh_access SET expires_at = now() - interval '1 second' WHERE token = $1`, [expired.token]);
  } finally {
    await client.end();
  }
  assert.deepEqual((await validate(expired.token)).json(), invalid);

  const revoked = await createToken();
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${sandboxId}/ssh-access?token=${revoked.token}`, headers: adminAuth })).statusCode, 200);
  assert.deepEqual((await validate(revoked.token)).json(), invalid);

  // A new token revokes the previous ones.
  const first = await createToken();
  const second = await createToken();
  assert.deepEqual((await validate(first.token)).json(), invalid);
  assert.equal((await validate(second.token)).json().valid, true);

  const doomed = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} })).json() as { id: string }).id;
  const foreign = await createToken(doomed, tenant.auth);
  assert.equal((await validate(foreign.token)).json().valid, true);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${doomed}`, headers: tenant.auth })).statusCode, 200);
  for (let i = 0; i < 100 && (await validate(foreign.token)).json().valid; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual((await validate(foreign.token)).json(), invalid);
});

test('createSshAccess names the gateway in sshCommand', async () => {
  const access = await createToken();
  assert.equal(access.sshCommand, `ssh -p 2222 ${access.token}@gateway.test`);
});

test("the gateway reaches only the streaming process of its token's sandbox, and the runner sees neither credential", async () => {
  const { token } = await createToken();
  const other = ((await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload: {} })).json() as { id: string }).id;
  await waitStarted(other);
  const before = runner.upgrades.length;
  assert.equal(await openStream(sandboxId, { ...sshGatewayAuth, 'x-daytona-ssh-token': token }), 101);
  const seen = runner.upgrades.slice(before);
  assert.equal(seen.length, 1);
  assert.match(seen[0]!.path, new RegExp(`/sandboxes/${sandboxId}/toolbox/process/stream$`));
  assert.equal(seen[0]!.headers['x-daytona-ssh-token'], undefined);
  assert.notEqual(seen[0]!.headers.authorization, sshGatewayAuth.authorization);
  // Another sandbox with this token, a wrong token, no token, another toolbox path: refused, nothing reaches the runner.
  assert.equal(await openStream(other, { ...sshGatewayAuth, 'x-daytona-ssh-token': token }), 404);
  assert.equal(await openStream(sandboxId, { ...sshGatewayAuth, 'x-daytona-ssh-token': 'wrong-token-0123456789abcdef0123' }), 404);
  assert.equal(await openStream(sandboxId, sshGatewayAuth), 403);
  assert.equal(await openStream(sandboxId, { ...sshGatewayAuth, 'x-daytona-ssh-token': token }, '/process/pty/x/connect'), 403);
  // A user's key does not get the gateway's path through the token header either: it is an ordinary toolbox call.
  await app.inject({ method: 'DELETE', url: `/api/sandbox/${sandboxId}/ssh-access?token=${token}`, headers: adminAuth });
  assert.equal(await openStream(sandboxId, { ...sshGatewayAuth, 'x-daytona-ssh-token': token }), 404);
  assert.equal(runner.upgrades.length, before + 1);
});

test('GET /runners/by-snapshot-ref lists the ready runners that hold the image', async () => {
  const second = await new FakeRunner({ token: OTHER_TOKEN, holds: (ref) => ref === TEST_DEFAULT_IMAGE }).start();
  const secondId = await registerRunner(app, second.url, OTHER_TOKEN, 'runner-2.test');
  try {
    const byRef = async (ref: string) =>
      ((await app.inject({ method: 'GET', url: `/api/runners/by-snapshot-ref?ref=${encodeURIComponent(ref)}`, headers: adminAuth })).json() as { runnerId: string; runnerDomain: string; runnerSnapshotId: string }[])
        .map((r) => r.runnerId)
        .sort();
    assert.deepEqual(await byRef('registry.test/held:1'), [runnerId]);
    assert.deepEqual(await byRef(TEST_DEFAULT_IMAGE), [runnerId, secondId].sort());
    assert.deepEqual(await byRef('registry.test/nowhere:1'), []);
    assert.equal((await app.inject({ method: 'GET', url: '/api/runners/by-snapshot-ref?ref=x', headers: tenant.auth })).statusCode, 403);
    // A runner that stops answering is left out, not waited for past the call's bound.
    await second.stop();
    assert.deepEqual(await byRef(TEST_DEFAULT_IMAGE), [runnerId]);
  } finally {
    await retireRunner(app, secondId).catch(() => undefined);
    await second.stop().catch(() => undefined);
  }
});
