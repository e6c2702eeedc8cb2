import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant } from './helpers/app.js';
import { startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

/**
 * OIDC login against a real issuer (oidc-provider on loopback): provisioning, organization selection, effective
 * permissions, and hostile tokens (forged, expired, wrong audience, foreign issuer) that must be 401 and change nothing.
 */

let db: TestDatabase;
let app: ShoalApp;
let issuer: TestIssuer;
let other: TestIssuer;
let sql: pg.Pool;

before(async () => {
  db = await createTestDatabase();
  issuer = await startTestIssuer();
  // A second, independent issuer with the same audience: its tokens are genuine but not ours.
  other = await startTestIssuer({ audience: issuer.audience });
  app = await buildTestApp(db.url, { background: false, env: issuer.env() });
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});

after(async () => {
  await app?.close();
  await sql?.end();
  await issuer?.stop();
  await other?.stop();
  await db?.drop();
});

const bearer = (t: string, org?: string) => ({ authorization: `Bearer ${t}`, ...(org ? { 'x-daytona-organization-id': org } : {}) });

async function userCount(): Promise<number> {
  return (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM "user"')).rows[0]!.n;
}

async function personalOrgOf(userId: string): Promise<string> {
  const r = await sql.query<{ id: string }>('SELECT id FROM organization WHERE created_by = $1 AND personal', [userId]);
  assert.equal(r.rowCount, 1, `one personal organization for ${userId}`);
  return r.rows[0]!.id;
}

function expectError(res: { statusCode: number; json: () => unknown }, status: number, message?: RegExp): void {
  assert.equal(res.statusCode, status, JSON.stringify(res.json()));
  const b = res.json() as { statusCode: number; message: string; error: string; path: string; timestamp: string };
  assert.equal(b.statusCode, status);
  assert.ok(b.error && b.timestamp && b.path !== undefined, 'error envelope');
  if (message) assert.match(String(b.message), message);
}

describe('config', () => {
  test('GET /config tells clients the real OIDC settings', async () => {
    const c = (await app.inject({ method: 'GET', url: '/api/config' })).json() as { oidc: { issuer: string; clientId: string; audience: string } };
    assert.deepEqual(c.oidc, { issuer: issuer.issuer, clientId: issuer.clientId, audience: issuer.audience });
  });
});

describe('first login', () => {
  test('a verified token provisions the user with a personal organization, once, also under concurrent first requests', async () => {
    const token = await issuer.mintToken({ sub: 'oidc|alice', email: 'alice@example.com', name: 'Alice', email_verified: true });
    const results = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) })));
    for (const r of results) assert.equal(r.statusCode, 200, r.body);
    const me = results[0]!.json() as { id: string; name: string; email: string; publicKeys: { key: string }[] };
    assert.equal(me.id, 'oidc|alice');
    assert.equal(me.name, 'Alice');
    assert.equal(me.email, 'alice@example.com');
    assert.match(me.publicKeys[0]!.key, /^ssh-ed25519 /);
    const row = await sql.query('SELECT email_verified, role FROM "user" WHERE id = $1', ['oidc|alice']);
    assert.deepEqual(row.rows, [{ email_verified: true, role: 'user' }]);
    const org = await personalOrgOf('oidc|alice');
    const member = await sql.query('SELECT role FROM organization_user WHERE organization_id = $1 AND user_id = $2', [org, 'oidc|alice']);
    assert.deepEqual(member.rows, [{ role: 'owner' }]);
    const quota = await sql.query('SELECT total_cpu_quota, name FROM organization WHERE id = $1', [org]);
    assert.deepEqual(quota.rows, [{ total_cpu_quota: 10, name: 'Personal' }]);
  });

  test('a later token completes what was missing (verified address, name)', async () => {
    await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(await issuer.mintToken({ sub: 'late', email_verified: false })) });
    let row = await sql.query('SELECT name, email, email_verified FROM "user" WHERE id = $1', ['late']);
    assert.deepEqual(row.rows, [{ name: 'Unknown', email: '', email_verified: false }]);
    await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(await issuer.mintToken({ sub: 'late', name: 'Late', email: 'late@example.com', email_verified: true })) });
    row = await sql.query('SELECT name, email, email_verified FROM "user" WHERE id = $1', ['late']);
    assert.deepEqual(row.rows, [{ name: 'Late', email: 'late@example.com', email_verified: true }]);
  });
});

describe('organization selection', () => {
  test('without the header the personal organization; with it, an organization the user belongs to', async () => {
    const token = await issuer.mintToken({ sub: 'carol', email: 'carol@example.com', name: 'Carol', email_verified: true });
    assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) })).statusCode, 200);
    const personal = await personalOrgOf('carol');
    // An owner's JWT holds every permission: it may mint a key, which lands in the organization the request names.
    const key = await app.inject({ method: 'POST', url: '/api/api-keys', headers: bearer(token), payload: { name: 'k1', permissions: ['write:sandboxes'] } });
    assert.equal(key.statusCode, 201, key.body);
    const stored = await sql.query('SELECT organization_id FROM api_key WHERE user_id = $1 AND name = $2', ['carol', 'k1']);
    assert.deepEqual(stored.rows, [{ organization_id: personal }]);
    const keys = await app.inject({ method: 'GET', url: '/api/api-keys', headers: bearer(token, personal) });
    assert.equal(keys.statusCode, 200);
    assert.deepEqual((keys.json() as { name: string }[]).map((k) => k.name), ['k1']);
    // Only an API key has a "current key".
    expectError(await app.inject({ method: 'GET', url: '/api/api-keys/current', headers: bearer(token) }), 403, /Authenticate with an API key/);
  });

  test('a header naming an organization the user is not a member of (or none at all) is 403 and changes nothing', async () => {
    const token = await issuer.mintToken({ sub: 'dave', email: 'dave@example.com', name: 'Dave', email_verified: true });
    const tenant = await createTenant(app, 'oidc-foreign-tenant');
    const before = (await sql.query('SELECT count(*)::int AS n FROM api_key')).rows[0]!.n as number;
    for (const org of [tenant.organizationId, '00000000-0000-0000-0000-0000000000ff', 'not-a-uuid']) {
      expectError(await app.inject({ method: 'GET', url: '/api/sandbox', headers: bearer(token, org) }), 403, /Forbidden resource/);
      expectError(await app.inject({ method: 'POST', url: '/api/api-keys', headers: bearer(token, org), payload: { name: 'x', permissions: ['write:sandboxes'] } }), 403);
    }
    assert.equal((await sql.query('SELECT count(*)::int AS n FROM api_key')).rows[0]!.n, before);
  });

  test('a member gets its roles’ permissions: reads with none, writes only with a role that grants them', async () => {
    const owner = await createTenant(app, 'oidc-team-owner');
    const token = await issuer.mintToken({ sub: 'erin', email: 'erin@example.com', name: 'Erin', email_verified: true });
    assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) })).statusCode, 200);
    await sql.query(`INSERT INTO organization_user (organization_id, user_id, role) VALUES ($1, 'erin', 'member')`, [owner.organizationId]);
    const h = bearer(token, owner.organizationId);
    assert.equal((await app.inject({ method: 'GET', url: '/api/sandbox', headers: h })).statusCode, 200);
    expectError(await app.inject({ method: 'POST', url: '/api/sandbox', headers: h, payload: {} }), 403, /missing permission write:sandboxes/);
    // Developer (global role 1) grants write:sandboxes: the same request now passes authorization (and fails later,
    // on validation of a bad field, which proves it got past the permission check without creating anything).
    await sql.query(`INSERT INTO organization_role_assignment (organization_id, user_id, role_id) VALUES ($1, 'erin', '00000000-0000-0000-0000-000000000001')`, [owner.organizationId]);
    expectError(await app.inject({ method: 'POST', url: '/api/sandbox', headers: h, payload: { cpu: 'many' } }), 400);
    expectError(await app.inject({ method: 'DELETE', url: '/api/sandbox/00000000-0000-0000-0000-000000000000', headers: h }), 403, /missing permission delete:sandboxes/);
    // Removed from the organization: refused at once.
    await sql.query(`DELETE FROM organization_user WHERE organization_id = $1 AND user_id = 'erin'`, [owner.organizationId]);
    expectError(await app.inject({ method: 'GET', url: '/api/sandbox', headers: h }), 403);
  });

  test('the toolbox proxy takes the organization from the header too', async () => {
    const team = await createTenant(app, 'oidc-proxy-team');
    const token = await issuer.mintToken({ sub: 'frank', email: 'frank@example.com', name: 'Frank', email_verified: true });
    assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) })).statusCode, 200);
    await sql.query(`INSERT INTO organization_user (organization_id, user_id, role) VALUES ($1, 'frank', 'owner')`, [team.organizationId]);
    const sb = await sql.query<{ id: string }>(
      `INSERT INTO sandbox (organization_id, os_user, cpu, gpu, mem, disk, state, desired_state, auth_token) VALUES ($1, 'daytona', 1, 0, 1, 3, 'stopped', 'stopped', 'tok') RETURNING id`,
      [team.organizationId],
    );
    const url = `/api/toolbox/${sb.rows[0]!.id}/toolbox/process/execute`;
    // In the team organization the sandbox is found (and is not running); in the personal one it does not exist.
    expectError(await app.inject({ method: 'POST', url, headers: bearer(token, team.organizationId), payload: { command: 'true' } }), 400, /not running/);
    expectError(await app.inject({ method: 'POST', url, headers: bearer(token), payload: { command: 'true' } }), 404);
    expectError(await app.inject({ method: 'POST', url, headers: bearer(token, '00000000-0000-0000-0000-0000000000fd'), payload: { command: 'true' } }), 403);
  });

  test('an admin (by JWT) may act on any existing organization without being a member', async () => {
    const token = await issuer.mintToken({ sub: 'root-person', email: 'root@example.com', name: 'Root', email_verified: true });
    assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) })).statusCode, 200);
    await sql.query(`UPDATE "user" SET role = 'admin' WHERE id = 'root-person'`);
    const tenant = await createTenant(app, 'oidc-admin-target');
    assert.equal((await app.inject({ method: 'GET', url: '/api/sandbox', headers: bearer(token, tenant.organizationId) })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/api/users', headers: bearer(token) })).statusCode, 200);
    expectError(await app.inject({ method: 'GET', url: '/api/sandbox', headers: bearer(token, '00000000-0000-0000-0000-0000000000fe') }), 403);
  });
});

describe('ES256', () => {
  test('an issuer signing access tokens with ES256 is accepted', async () => {
    const ec = await startTestIssuer({ alg: 'ES256', audience: 'urn:shoal:api-es' });
    const ecApp = await buildTestApp(db.url, { background: false, env: ec.env() });
    try {
      const token = await ec.mintToken({ sub: 'es-user', email: 'es@example.com', name: 'ES', email_verified: true });
      assert.equal(decodeProtectedHeader(token).alg, 'ES256');
      const me = await ecApp.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) });
      assert.equal(me.statusCode, 200, me.body);
      assert.equal((me.json() as { id: string }).id, 'es-user');
    } finally {
      await ecApp.close();
      await ec.stop();
    }
  });
});

describe('API keys next to OIDC', () => {
  test('a key acts in its own organization (the header is ignored) and stops working once its user left it', async () => {
    const a = await createTenant(app, 'oidc-key-a');
    const b = await createTenant(app, 'oidc-key-b');
    const res = await app.inject({ method: 'GET', url: '/api/api-keys/current', headers: { ...a.auth, 'x-daytona-organization-id': b.organizationId } });
    assert.equal(res.statusCode, 200);
    const keys = await app.inject({ method: 'GET', url: '/api/api-keys', headers: { ...a.auth, 'x-daytona-organization-id': b.organizationId } });
    assert.deepEqual((keys.json() as { userId: string }[]).map((k) => k.userId), ['oidc-key-a']);
    // The key's user leaves the key's organization (keys are also deleted then; this proves the check does not rely on that).
    await sql.query(`DELETE FROM organization_user WHERE organization_id = $1 AND user_id = 'oidc-key-a'`, [a.organizationId]);
    // A change made in SQL reaches the app's credential cache through the database's NOTIFY, a moment after commit.
    let left = await app.inject({ method: 'GET', url: '/api/sandbox', headers: a.auth });
    for (let i = 0; i < 100 && left.statusCode === 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = await app.inject({ method: 'GET', url: '/api/sandbox', headers: a.auth });
    }
    expectError(left, 401, /Invalid API key/);
  });
});

describe('hostile tokens', () => {
  const victim = { sub: 'mallory-target', email: 'target@example.com', name: 'Target', email_verified: true };

  let attempt = 0;
  async function refusedAndNothingChanged(token: string, message: RegExp): Promise<void> {
    const usersBefore = await userCount();
    const name = `evil-${++attempt}`;
    for (const r of [
      await app.inject({ method: 'GET', url: '/api/users/me', headers: bearer(token) }),
      await app.inject({ method: 'POST', url: '/api/api-keys', headers: bearer(token), payload: { name, permissions: ['write:sandboxes'] } }),
    ]) {
      expectError(r, 401, message);
    }
    assert.equal(await userCount(), usersBefore, 'no user provisioned');
    assert.equal((await sql.query('SELECT 1 FROM api_key WHERE name = $1', [name])).rowCount, 0);
  }

  test('a forged signature (right kid, another key) is 401', async () => {
    const genuine = await issuer.mintToken(victim);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ ...decodeJwt(genuine), sub: 'forged-user' }).setProtectedHeader(decodeProtectedHeader(genuine) as { alg: string }).sign(privateKey);
    await refusedAndNothingChanged(forged, /Invalid token: (signature verification failed|no key)/);
  });

  test('a genuine token with its payload altered is 401', async () => {
    const [h, p, s] = (await issuer.mintToken(victim)).split('.');
    const payload = { ...(JSON.parse(Buffer.from(p!, 'base64url').toString()) as object), sub: 'tampered-user' };
    await refusedAndNothingChanged(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, /signature verification failed/);
  });

  test('an expired token is 401', async () => {
    const token = await issuer.mintToken({ ...victim, sub: 'expired-user' }, { ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 2100));
    await refusedAndNothingChanged(token, /expired/);
  });

  test('a genuine token for another audience (the ID token, aud = client id) is 401', async () => {
    const token = await issuer.mintIdToken({ ...victim, sub: 'wrong-aud-user' });
    await refusedAndNothingChanged(token, /claim "aud"/);
  });

  test('a genuine token of another issuer is 401', async () => {
    await refusedAndNothingChanged(await other.mintToken({ ...victim, sub: 'other-issuer-user' }), /Invalid token/);
  });

  test('an unsigned token (alg none) and an HS256 token keyed with the public key are 401', async () => {
    const claims = { ...decodeJwt(await issuer.mintToken(victim)), sub: 'unsigned-user' };
    await refusedAndNothingChanged(new UnsecuredJWT(claims).encode().replace(/\.$/, '.x'), /Invalid token/);
    const jwks = (await (await fetch(`${issuer.issuer}/jwks`)).json()) as { keys: object[] };
    const pubBytes = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'shoal-test-rs256' }).sign(pubBytes);
    await refusedAndNothingChanged(hs, /Invalid token/);
  });

  test('an issuer that cannot be reached is 401 with the reason, and nothing changes', async () => {
    const down = await buildTestApp(db.url, { background: false, env: { SHOAL_OIDC_ISSUER: 'http://127.0.0.1:9', SHOAL_OIDC_AUDIENCE: issuer.audience } });
    try {
      const usersBefore = await userCount();
      const res = await down.inject({ method: 'GET', url: '/api/users/me', headers: bearer(await issuer.mintToken({ ...victim, sub: 'unreachable-user' })) });
      expectError(res, 401, /discovery document could not be read/);
      assert.equal(await userCount(), usersBefore);
      // API keys do not depend on the issuer.
      assert.equal((await down.inject({ method: 'GET', url: '/api/users', headers: adminAuth })).statusCode, 200);
    } finally {
      await down.close();
    }
  });

  test('the admin key still works and is unaffected', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/users', headers: adminAuth })).statusCode, 200);
  });
});
