import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShoalApp } from '../../api/src/app.js';
import { createTestDatabase, type TestDatabase } from '../../api/test/helpers/database.js';
import { adminAuth, buildTestApp } from '../../api/test/helpers/app.js';
import { parseExpiry, parsePermissions } from '../src/commands/key/key.js';
import { runCli, type CliResult } from './helpers/run-cli.js';

/*
 * `shoal org …` and `shoal key …` as people run them: the CLI as a separate process against the API on loopback (real
 * PostgreSQL). Two users made by the admin: A owns an organization and invites B, who accepts with the CLI.
 */


let dir: string;
let db: TestDatabase;
let app: ShoalApp;
let apiUrl: string;
let a: { key: string; id: string };
let b: { key: string; id: string; email: string };

async function user(id: string, email: string): Promise<{ key: string; id: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: { id, name: id, email, emailVerified: true, createApiKey: true } });
  assert.equal(res.statusCode, 201, res.body);
  return { key: (res.json() as { apiKey: string }).apiKey, id };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-org-'));
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api`;
  a = await user('cli-org-owner', 'owner@cli-org.test');
  b = { ...(await user('cli-org-invitee', 'invitee@cli-org.test')), email: 'invitee@cli-org.test' };
});

after(async () => {
  await app?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[], key: string): Promise<CliResult> => runCli(argv, { apiUrl, key, dir });

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

describe('shoal key', () => {
  test('create with --permissions and --expires prints the key once; list shows it masked; delete removes it', async () => {
    const created = JSON.parse(ok(await cli(['key', 'create', 'cli-narrow', '--permissions', 'write:sandboxes,delete:sandboxes', '--expires', '30d', '--json'], a.key)).stdout) as {
      value: string;
      permissions: string[];
      expiresAt: string;
    };
    assert.match(created.value, /^dtn_[0-9a-f]{64}$/);
    assert.deepEqual([...created.permissions].sort(), ['delete:sandboxes', 'write:sandboxes']);
    const days = (Date.parse(created.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);

    // The new key works, limited to what it was given: it may list keys but not mint a wider one.
    const listed = JSON.parse(ok(await cli(['key', 'list', '--json'], created.value)).stdout) as Array<{ name: string; value: string; expiresAt: string | null }>;
    const mine = listed.find((k) => k.name === 'cli-narrow');
    assert.ok(mine, JSON.stringify(listed));
    assert.ok(!mine.value.includes(created.value.slice(4, 20)), 'the list shows the key masked');
    const wider = await cli(['key', 'create', 'cli-wider', '--permissions', 'all'], created.value);
    assert.equal(wider.code, 1, wider.stderr);
    assert.match(wider.stderr, /Insufficient permissions for assigning/);

    const table = ok(await cli(['key', 'list'], a.key)).stdout.split('\n');
    assert.match(table[0]!, /^NAME\s+VALUE\s+PERMISSIONS\s+EXPIRESAT\s+LASTUSEDAT\s+USERID$/);
    assert.ok(table.some((l) => /^cli-narrow\s+dtn\*+\w{3}\s+(write:sandboxes,delete:sandboxes|delete:sandboxes,write:sandboxes)\s+\d{4}-/.test(l)), table.join('\n'));

    ok(await cli(['key', 'delete', 'cli-narrow'], a.key));
    const after = JSON.parse(ok(await cli(['key', 'list', '--json'], a.key)).stdout) as Array<{ name: string }>;
    assert.ok(!after.some((k) => k.name === 'cli-narrow'));
    const gone = await cli(['key', 'list'], created.value);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /HTTP 401/);
  });

  test('bad input is refused before any request: unknown permission, past or malformed expiry, no name', async () => {
    for (const [argv, pattern] of [
      [['key', 'create', 'x', '--permissions', 'read:sandboxes'], /unknown permission read:sandboxes/],
      [['key', 'create', 'x', '--permissions', 'write:sandboxes', '--expires', '2001-01-01T00:00:00Z'], /not in the future/],
      [['key', 'create', 'x', '--permissions', 'write:sandboxes', '--expires', 'soon'], /--expires must be/],
      [['key', 'create', 'x'], /--permissions is required/],
      [['key', 'delete'], /shoal key delete/],
    ] as Array<[string[], RegExp]>) {
      const r = await cli(argv, a.key);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
    assert.deepEqual(parsePermissions('all').length, 10);
    assert.equal(parseExpiry('90m', 0).getTime(), 90 * 60_000);
  });
});

describe('shoal org', () => {
  test('create, roles, invite by e-mail with a role, the invitee lists and accepts, members, delete', async () => {
    const org = JSON.parse(ok(await cli(['org', 'create', 'cli-team', '--json'], a.key)).stdout) as { id: string; name: string; personal: boolean };
    assert.equal(org.name, 'cli-team');
    assert.equal(org.personal, false);
    const list = ok(await cli(['org', 'list'], a.key)).stdout;
    assert.match(list, new RegExp(`^${org.id}\\s+cli-team\\s+false`, 'm'));

    const roles = JSON.parse(ok(await cli(['org', 'roles', 'cli-team', '--json'], a.key)).stdout) as Array<{ name: string; isGlobal: boolean; permissions: string[] }>;
    const developer = roles.find((r) => r.name === 'Developer');
    assert.ok(developer?.isGlobal, JSON.stringify(roles));
    assert.deepEqual(developer.permissions, ['write:sandboxes']);

    const inv = JSON.parse(ok(await cli(['org', 'invite', 'cli-team', b.email, '--roles', 'Developer', '--json'], a.key)).stdout) as { id: string; email: string; role: string };
    assert.equal(inv.email, b.email);
    assert.equal(inv.role, 'member');
    const unknownRole = await cli(['org', 'invite', 'cli-team', 'x@cli-org.test', '--roles', 'Astronaut'], a.key);
    assert.equal(unknownRole.code, 2);
    assert.match(unknownRole.stderr, /no role Astronaut/);

    const waiting = JSON.parse(ok(await cli(['org', 'invitations', '--json'], b.key)).stdout) as Array<{ id: string; organizationId: string }>;
    assert.deepEqual(waiting.map((i) => [i.id, i.organizationId]), [[inv.id, org.id]]);
    // Another user holding the id cannot accept it: it was made for B's e-mail address.
    assert.notEqual((await cli(['org', 'accept', inv.id], a.key)).code, 0);
    ok(await cli(['org', 'accept', inv.id], b.key));

    const members = JSON.parse(ok(await cli(['org', 'members', org.id, '--json'], a.key)).stdout) as Array<{ userId: string; role: string; assignedRoles: Array<{ name: string }> }>;
    const bm = members.find((m) => m.userId === b.id);
    assert.ok(bm, JSON.stringify(members));
    assert.equal(bm.role, 'member');
    assert.deepEqual(bm.assignedRoles.map((r) => r.name), ['Developer']);
    assert.equal(members.find((m) => m.userId === a.id)?.role, 'owner');
    const table = ok(await cli(['org', 'members', 'cli-team'], a.key)).stdout;
    assert.match(table, /^cli-org-invitee\s+cli-org-invitee\s+invitee@cli-org\.test\s+member\s+Developer$/m);

    // B is a member, not an owner: it cannot delete the organization; A can, and then it is gone for both.
    const refused = await cli(['org', 'delete', org.id], b.key);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /HTTP 403/);
    ok(await cli(['org', 'delete', 'cli-team'], a.key));
    const missing = await cli(['org', 'members', org.id], a.key);
    assert.equal(missing.code, 3, 'a missing organization exits 3 (not found)');
  });
});
