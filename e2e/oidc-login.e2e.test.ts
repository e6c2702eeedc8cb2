// Issue 12 Acceptance, the OIDC line: the official SDK logged in with a JWT of a real OIDC issuer on loopback
// (oidc-provider, e2e/src/oidc-issuer.ts) and an organizationId creates a sandbox, runs a command in it and deletes it;
// a forged or expired JWT gets 401 from the SDK's first call, and an organization the user is not in gets 403.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Daytona } from '@daytonaio/sdk';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { startTestIssuer, type TestIssuer } from './src/oidc-issuer.js';

let platform: TestPlatform;
let issuer: TestIssuer;

before(async () => {
  issuer = await startTestIssuer();
  platform = await startTestPlatform({ extraApiEnv: issuer.env() });
});

after(async () => {
  await platform?.close();
  await issuer?.stop();
});

async function get<T>(token: string, path: string, org?: string): Promise<{ status: number; json: T }> {
  const res = await fetch(`${platform.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}`, ...(org ? { 'x-daytona-organization-id': org } : {}) } });
  return { status: res.status, json: (await res.json()) as T };
}

/** The SDK's error message for a call that must fail (the SDK's errors carry the server's message, not its status). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the call succeeded');
}

let mark = Date.now();
function step(name: string): void {
  console.log(`[oidc-login] ${name}: ${Date.now() - mark} ms`);
  mark = Date.now();
}

test('the SDK with a JWT and organizationId creates, runs in and deletes a sandbox; forged, expired and foreign are refused', async () => {
  const t0 = Date.now();
  mark = t0;
  const config = await fetch(`${platform.apiUrl}/config`).then((r) => r.json() as Promise<{ oidc: { issuer: string; audience: string } }>);
  assert.equal(config.oidc.issuer, issuer.issuer);
  assert.equal(config.oidc.audience, issuer.audience);

  const token = await issuer.mintToken({ sub: 'oidc-e2e-user', email: 'e2e@oidc.test', name: 'E2E User', email_verified: true });
  // First call provisions the user; its personal organization is the one the SDK is then pointed at.
  const orgs = await get<{ id: string; personal: boolean }[]>(token, '/organizations');
  assert.equal(orgs.status, 200);
  const personal = orgs.json.find((o) => o.personal);
  assert.ok(personal, 'a personal organization was provisioned');

  step('config and first login');
  const daytona = new Daytona({ jwtToken: token, organizationId: personal.id, apiUrl: platform.apiUrl, target: 'us' });
  const sandbox = await daytona.create({ labels: { suite: 'oidc-login' } });
  assert.equal(sandbox.organizationId, personal.id);
  step('create');
  const run = await sandbox.process.executeCommand('echo hello-from-$(whoami)');
  assert.equal(run.exitCode, 0);
  assert.match(run.result, /hello-from-/);
  step('exec');
  assert.ok((await daytona.list()).items.some((s) => s.id === sandbox.id));
  step('list');

  // Forged: the genuine claims re-signed with another key under the issuer's kid.
  const { privateKey } = await generateKeyPair('RS256');
  const forged = await new SignJWT({ ...decodeJwt(token), sub: 'oidc-e2e-forger' }).setProtectedHeader(decodeProtectedHeader(token) as { alg: string }).sign(privateKey);
  assert.match(await failure(new Daytona({ jwtToken: forged, organizationId: personal.id, apiUrl: platform.apiUrl, target: 'us' }).list()), /Invalid token: (signature verification failed|no key)/);
  assert.equal((await get(forged, '/sandbox', personal.id)).status, 401);
  step('forged JWT refused');

  const shortLived = await issuer.mintToken({ sub: 'oidc-e2e-user', email: 'e2e@oidc.test', name: 'E2E User', email_verified: true }, { ttlSeconds: 1 });
  await new Promise((r) => setTimeout(r, 2100));
  assert.match(await failure(new Daytona({ jwtToken: shortLived, organizationId: personal.id, apiUrl: platform.apiUrl, target: 'us' }).list()), /expired/);
  assert.equal((await get(shortLived, '/sandbox', personal.id)).status, 401);
  step('expired JWT refused');

  // Another user, genuinely logged in, pointing the SDK at the first user's organization.
  const other = await issuer.mintToken({ sub: 'oidc-e2e-other', email: 'other@oidc.test', name: 'Other', email_verified: true });
  assert.match(await failure(new Daytona({ jwtToken: other, organizationId: personal.id, apiUrl: platform.apiUrl, target: 'us' }).get(sandbox.id)), /Forbidden resource/);
  assert.equal((await get(other, `/sandbox/${sandbox.id}`, personal.id)).status, 403);
  step('foreign organization refused');
  // Nothing of that reached the sandbox: it is still there and running.
  assert.equal((await daytona.get(sandbox.id)).state, 'started');

  await daytona.delete(sandbox);
  step('delete');
  const gone = await get<{ state?: string }>(token, `/sandbox/${sandbox.id}`);
  assert.ok(gone.status === 404 || ['destroyed', 'destroying'].includes(gone.json.state ?? ''), `after delete: ${gone.status} ${gone.json.state}`);
  console.log(`[oidc-login] whole scenario: ${Date.now() - t0} ms`);
});
