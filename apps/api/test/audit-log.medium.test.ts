// Issue 12 "audit log": every state-changing request leaves a row (actor, organization, action, target, outcome, IP,
// user agent, source, masked metadata); reads are admin-wide or per organization with read:audit_logs; a row that
// cannot be written refuses the request. Real PostgreSQL, Fastify inject and a fake runner.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner, retireRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

const TOKEN = 'audit-fake-runner-token-0123456789abcdef';
const SECRET_ENV = 'hunter2-env-value';
const SECRET_PASSWORD = 'registry-password-s3cr3t';
const UA = 'audit-test/1.0 (medium)';
const IP = '198.18.0.7';

interface AuditRow {
  id: string;
  actorId: string;
  actorEmail: string;
  organizationId?: string;
  action: string;
  targetType?: string;
  targetId?: string;
  statusCode?: number;
  errorMessage?: string;
  ipAddress?: string;
  userAgent?: string;
  source?: string;
  metadata?: Record<string, unknown>;
  createdAt: string;
}
interface Page {
  items: AuditRow[];
  total: number;
  page: number;
  totalPages: number;
}

let db: TestDatabase;
let runner: FakeRunner;
let runnerId: string;
let app: ShoalApp;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let other: Awaited<ReturnType<typeof createTenant>>;
let noAuditKey: { authorization: string };
let readOnlyKey: { authorization: string };
let sandboxId: string;
let sql: pg.Client;

const client = (auth: { authorization: string }) => ({ ...auth, 'user-agent': UA, 'x-daytona-source': 'typescript-sdk' });

async function mintKey(auth: { authorization: string }, name: string, permissions: string[]): Promise<{ authorization: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/api-keys', headers: auth, payload: { name, permissions } });
  assert.equal(res.statusCode, 201, res.body);
  return { authorization: `Bearer ${(res.json() as { value: string }).value}` };
}

async function orgLog(auth: { authorization: string }, orgId: string, query = ''): Promise<{ status: number; body: Page }> {
  const res = await app.inject({ method: 'GET', url: `/api/audit/organizations/${orgId}${query}`, headers: auth });
  return { status: res.statusCode, body: res.json() as Page };
}

/** The newest row of the tenant's log for an action and target. */
async function find(action: string, pred: (r: AuditRow) => boolean = () => true): Promise<AuditRow> {
  const { status, body } = await orgLog(tenant.auth, tenant.organizationId, `?limit=200&action=${action}`);
  assert.equal(status, 200, JSON.stringify(body));
  const row = body.items.find(pred);
  assert.ok(row, `no ${action} row in ${JSON.stringify(body.items.map((r) => [r.action, r.targetId, r.statusCode]))}`);
  return row;
}

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({ token: TOKEN }).start();
  app = await buildTestApp(db.url);
  runnerId = await registerRunner(app, runner.url, TOKEN);
  tenant = await createTenant(app, 'audit-tenant');
  other = await createTenant(app, 'audit-other');
  noAuditKey = await mintKey(tenant.auth, 'no-audit', ['write:sandboxes', 'delete:sandboxes', 'write:registries']);
  readOnlyKey = await mintKey(tenant.auth, 'read-only', ['read:volumes']);
  await mintKey(other.auth, 'other-key', ['write:sandboxes']);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  await sql?.end().catch(() => {});
  if (app && runnerId) await retireRunner(app, runnerId).catch(() => {});
  await app?.close();
  await runner?.stop();
  await db?.drop();
});

describe('recording', () => {
  test('a create names the actor, organization, created id, outcome, IP, user agent and source, with env values masked', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/sandbox',
      headers: client(tenant.auth),
      remoteAddress: IP,
      payload: { env: { API_TOKEN: SECRET_ENV, PLAIN: 'visible-name-only' }, labels: { team: 'audit' } },
    });
    assert.equal(res.statusCode, 200, res.body);
    sandboxId = (res.json() as { id: string }).id;
    const row = await find('create', (r) => r.targetId === sandboxId);
    assert.equal(row.actorId, 'audit-tenant');
    assert.equal(row.organizationId, tenant.organizationId);
    assert.equal(row.targetType, 'sandbox');
    assert.equal(row.statusCode, 200);
    assert.equal(row.errorMessage, undefined);
    assert.equal(row.ipAddress, IP);
    assert.equal(row.userAgent, UA);
    assert.equal(row.source, 'typescript-sdk');
    const body = (row.metadata as { body: { env: Record<string, string>; labels: Record<string, string> } }).body;
    assert.deepEqual(body.env, { API_TOKEN: '********', PLAIN: '********' });
    assert.deepEqual(body.labels, { team: 'audit' });
    assert.ok(!Number.isNaN(Date.parse(row.createdAt)));
  });

  test("a create's outcome is written after its answer, and a read of the log here waits for it", async () => {
    // Every outcome's write takes 700 ms: the create must answer before it lands, the log's read after it.
    await sql.query(`CREATE FUNCTION audit_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.7); RETURN NEW; END $$`);
    await sql.query('CREATE TRIGGER audit_test_slow BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_test_slow()');
    try {
      const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: client(tenant.auth), payload: { labels: { slow: 'outcome' } } });
      assert.equal(res.statusCode, 200, res.body);
      const id = (res.json() as { id: string }).id;
      const pending = (await sql.query(`SELECT status_code, target_id FROM audit_log WHERE organization_id = $1 AND action = 'create' ORDER BY created_at DESC LIMIT 1`, [tenant.organizationId])).rows;
      assert.deepEqual(pending, [{ status_code: null, target_id: null }], 'the answer waited for the outcome');
      const row = await find('create', (r) => r.targetId === id);
      assert.equal(row.statusCode, 200);
    } finally {
      await sql.query('DROP TRIGGER audit_test_slow ON audit_log');
      await sql.query('DROP FUNCTION audit_test_slow()');
    }
  });

  test('passwords are masked, and no secret reaches the table in any column', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/docker-registry',
      headers: client(tenant.auth),
      payload: { name: 'audit-reg', url: 'https://registry.example.test', username: 'u', password: SECRET_PASSWORD, registryType: 'organization' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const row = await find('create', (r) => r.targetType === 'docker_registry');
    assert.equal(row.targetId, (res.json() as { id: string }).id);
    assert.equal((row.metadata as { body: { password: string; username: string } }).body.password, '********');
    assert.equal((row.metadata as { body: { username: string } }).body.username, 'u');
    const leaked = await sql.query(`SELECT count(*)::int AS n FROM audit_log WHERE audit_log::text LIKE '%' || $1 || '%' OR audit_log::text LIKE '%' || $2 || '%'`, [SECRET_ENV, SECRET_PASSWORD]);
    assert.equal(leaked.rows[0].n, 0);
  });

  test('reference action names: replace_labels, set_auto_stop_interval, update_public_status', async () => {
    for (const [method, url, payload] of [
      ['PUT', `/api/sandbox/${sandboxId}/labels`, { labels: { team: 'audit2' } }],
      ['POST', `/api/sandbox/${sandboxId}/autostop/30`, undefined],
      ['POST', `/api/sandbox/${sandboxId}/public/true`, undefined],
    ] as const) {
      const res = await app.inject({ method, url, headers: client(tenant.auth), ...(payload ? { payload } : {}) });
      assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`);
    }
    for (const action of ['replace_labels', 'set_auto_stop_interval', 'update_public_status']) {
      const row = await find(action);
      assert.equal(row.targetId, sandboxId);
      assert.equal(row.targetType, 'sandbox');
    }
  });

  test('failed attempts are recorded with their status and message: 403 (missing permission), 404, 400', async () => {
    const forbidden = await app.inject({ method: 'POST', url: '/api/sandbox', headers: client(readOnlyKey), payload: {} });
    assert.equal(forbidden.statusCode, 403);
    const f = await find('create', (r) => r.statusCode === 403);
    assert.equal(f.actorId, 'audit-tenant');
    assert.equal(f.organizationId, tenant.organizationId);
    assert.equal(f.errorMessage, (forbidden.json() as { message: string }).message);

    const missing = 'no-such-sandbox-for-audit';
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${missing}`, headers: client(tenant.auth) })).statusCode, 404);
    const nf = await find('delete', (r) => r.targetId === missing);
    assert.equal(nf.statusCode, 404);
    assert.equal(nf.errorMessage, `Sandbox with ID ${missing} not found`);

    const bad = await app.inject({ method: 'POST', url: `/api/sandbox/${sandboxId}/autostop/not-a-number`, headers: client(tenant.auth) });
    assert.equal(bad.statusCode, 400);
    const br = await find('set_auto_stop_interval', (r) => r.statusCode === 400);
    assert.equal(br.targetId, sandboxId);
    assert.ok(br.errorMessage);
  });

  test('a delete is recorded with its outcome', async () => {
    const res = await app.inject({ method: 'DELETE', url: `/api/sandbox/${sandboxId}`, headers: client(tenant.auth) });
    assert.equal(res.statusCode, 200, res.body);
    const row = await find('delete', (r) => r.targetId === sandboxId);
    assert.equal(row.statusCode, 200);
    assert.equal(row.actorId, 'audit-tenant');
  });

  test('a malformed organization id in the path is recorded without an organization, not turned into a 500', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/organizations/not-a-uuid/suspend', headers: adminAuth, payload: {} });
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body}`);
    const rows = (await sql.query(`SELECT organization_id, status_code FROM audit_log WHERE action = 'suspend' AND target_id = 'not-a-uuid'`)).rows as Array<{ organization_id: string | null; status_code: number }>;
    assert.deepEqual(rows, [{ organization_id: null, status_code: res.statusCode }]);
  });

  test('a NUL character or a lone surrogate in the path, query or body is recorded (as U+FFFD), never a 500 for the request', async () => {
    // PostgreSQL text and jsonb refuse U+0000; the e2e input fuzzer found every write with one answering 500.
    const path = await app.inject({ method: 'POST', url: '/api/sandbox/abc%00def/stop?page=%00', headers: client(tenant.auth) });
    assert.equal(path.statusCode, 404, path.body);
    const labels = await app.inject({ method: 'PUT', url: `/api/sandbox/${sandboxId}/labels`, headers: client(tenant.auth), payload: { labels: { 'k\u0000ey': 'v\ud800al' } } });
    assert.ok(labels.statusCode < 500, `${labels.statusCode} ${labels.body}`);
    const stop = await find('stop', (r) => r.targetId === 'abc\uFFFDdef');
    assert.equal(stop.statusCode, 404);
    const rows = (await sql.query(`SELECT metadata::text AS m FROM audit_log WHERE action = 'replace_labels' AND target_id = $1 ORDER BY created_at DESC LIMIT 1`, [sandboxId])).rows as Array<{ m: string }>;
    assert.match(rows[0]?.m ?? '', /k\uFFFDey/);
    assert.match(rows[0]?.m ?? '', /v\uFFFDal/, 'a lone surrogate (valid JSON, refused by jsonb) is replaced too');
  });

  test('unauthenticated writes (401) leave no row', async () => {
    const before = (await sql.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n as number;
    for (let i = 0; i < 5; i++) {
      const res = await app.inject({ method: 'POST', url: '/api/sandbox', headers: { authorization: `Bearer dtn_${'0'.repeat(64)}` }, payload: {} });
      assert.equal(res.statusCode, 401);
    }
    assert.equal((await sql.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n, before);
  });

  test('reads are not recorded', async () => {
    const before = (await sql.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n as number;
    assert.equal((await app.inject({ method: 'GET', url: '/api/sandbox', headers: tenant.auth })).statusCode, 200);
    assert.equal((await sql.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n, before);
  });
});

describe('reading', () => {
  test('an organization log needs read:audit_logs (403 naming nothing else), and another organization is 404', async () => {
    assert.equal((await orgLog(noAuditKey, tenant.organizationId)).status, 403);
    assert.equal((await orgLog(tenant.auth, other.organizationId)).status, 404);
    assert.equal((await orgLog(tenant.auth, '00000000-0000-0000-0000-00000000abcd')).status, 404);
    assert.equal((await orgLog(tenant.auth, 'not-a-uuid')).status, 404);
    assert.equal((await orgLog(adminAuth, '00000000-0000-0000-0000-00000000abcd')).status, 404);
    // The other tenant's log holds none of this tenant's rows.
    const theirs = await orgLog(other.auth, other.organizationId, '?limit=200');
    assert.equal(theirs.status, 200);
    assert.ok(theirs.body.items.every((r) => r.organizationId === other.organizationId && r.actorId !== 'audit-tenant'));
  });

  test('GET /audit is for admins; it sees every organization', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/audit', headers: tenant.auth })).statusCode, 403);
    const res = await app.inject({ method: 'GET', url: '/api/audit?limit=200', headers: adminAuth });
    assert.equal(res.statusCode, 200);
    const orgs = new Set((res.json() as Page).items.map((r) => r.organizationId));
    assert.ok(orgs.has(tenant.organizationId));
    assert.ok(orgs.has(other.organizationId), 'the admin log includes the other tenant (its key creations)');
  });

  test('pagination: newest first, pages do not overlap, totals add up', async () => {
    const all = await orgLog(tenant.auth, tenant.organizationId, '?limit=200');
    const total = all.body.total;
    assert.ok(total >= 8, `total ${total}`);
    const times = all.body.items.map((r) => Date.parse(r.createdAt));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    const p1 = await orgLog(tenant.auth, tenant.organizationId, '?limit=3&page=1');
    const p2 = await orgLog(tenant.auth, tenant.organizationId, '?limit=3&page=2');
    assert.equal(p1.body.total, total);
    assert.equal(p1.body.totalPages, Math.ceil(total / 3));
    assert.equal(p2.body.page, 2);
    assert.deepEqual([...p1.body.items, ...p2.body.items].map((r) => r.id), all.body.items.slice(0, 6).map((r) => r.id));
    assert.equal((await orgLog(tenant.auth, tenant.organizationId, '?limit=201')).status, 400);
    assert.equal((await orgLog(tenant.auth, tenant.organizationId, '?page=0')).status, 400);
  });

  test('filters: from/to, action, target', async () => {
    const future = new Date(Date.now() + 3600_000).toISOString();
    const past = new Date(Date.now() - 3600_000).toISOString();
    assert.equal((await orgLog(tenant.auth, tenant.organizationId, `?from=${future}`)).body.total, 0);
    assert.equal((await orgLog(tenant.auth, tenant.organizationId, `?to=${past}`)).body.total, 0);
    const window = await orgLog(tenant.auth, tenant.organizationId, `?from=${past}&to=${future}`);
    assert.ok(window.body.total >= 8);
    const deletes = await orgLog(tenant.auth, tenant.organizationId, '?action=delete');
    assert.ok(deletes.body.items.length >= 2 && deletes.body.items.every((r) => r.action === 'delete'));
    const target = await orgLog(tenant.auth, tenant.organizationId, `?targetId=${sandboxId}`);
    assert.ok(target.body.items.length >= 5 && target.body.items.every((r) => r.targetId === sandboxId));
    assert.equal((await orgLog(tenant.auth, tenant.organizationId, '?from=yesterday')).status, 400);
  });

  test('POST /audit: admin only, the reference DTO, 201 with the entry', async () => {
    const payload = { actorId: 'external-system', actorEmail: 'ops@example.test', organizationId: tenant.organizationId, action: 'login', targetType: 'user', targetId: 'u-1' };
    assert.equal((await app.inject({ method: 'POST', url: '/api/audit', headers: tenant.auth, payload })).statusCode, 403);
    const res = await app.inject({ method: 'POST', url: '/api/audit', headers: client(adminAuth), payload });
    assert.equal(res.statusCode, 201, res.body);
    const row = res.json() as AuditRow;
    assert.equal(row.actorId, 'external-system');
    assert.equal(row.action, 'login');
    assert.equal(row.userAgent, UA);
    assert.equal((await find('login')).id, row.id);
    assert.equal((await app.inject({ method: 'POST', url: '/api/audit', headers: adminAuth, payload: { ...payload, targetType: 'spaceship' } })).statusCode, 400);
    assert.equal((await app.inject({ method: 'POST', url: '/api/audit', headers: adminAuth, payload: { action: 'create' } })).statusCode, 400);
  });
});

describe('no state change unaudited', () => {
  test('when the row cannot be written the request answers 500 and changes nothing', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} });
    assert.equal(created.statusCode, 200, created.body);
    const keep = (created.json() as { id: string }).id;
    const count = async () => (await sql.query('SELECT count(*)::int AS n FROM sandbox WHERE organization_id = $1', [tenant.organizationId])).rows[0].n as number;
    const sandboxesBefore = await count();
    await sql.query('ALTER TABLE audit_log RENAME TO audit_log_away');
    try {
      const create = await app.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: {} });
      assert.equal(create.statusCode, 500, create.body);
      assert.equal((create.json() as { statusCode: number }).statusCode, 500);
      const del = await app.inject({ method: 'DELETE', url: `/api/sandbox/${keep}`, headers: tenant.auth });
      assert.equal(del.statusCode, 500, del.body);
      const labels = await app.inject({ method: 'PUT', url: `/api/sandbox/${keep}/labels`, headers: tenant.auth, payload: { labels: { changed: 'yes' } } });
      assert.equal(labels.statusCode, 500);
    } finally {
      await sql.query('ALTER TABLE audit_log_away RENAME TO audit_log');
    }
    assert.equal(await count(), sandboxesBefore);
    const sb = (await sql.query('SELECT desired_state, labels FROM sandbox WHERE id = $1', [keep])).rows[0] as { desired_state: string; labels: Record<string, string> };
    assert.notEqual(sb.desired_state, 'destroyed');
    assert.equal(sb.labels.changed, undefined);
    // And it records again once the table is back.
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/sandbox/${keep}`, headers: tenant.auth })).statusCode, 200);
    assert.equal((await find('delete', (r) => r.targetId === keep)).statusCode, 200);
  });
});
