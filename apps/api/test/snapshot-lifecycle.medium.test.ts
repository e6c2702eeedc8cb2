import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDb, createPool } from '../src/db/database.js';
import { HttpSnapshotRunnerClient } from '../src/reconciler/snapshot-manager.js';
import { SnapshotLifecycle } from '../src/reconciler/snapshot-lifecycle.js';
import { createTestDatabase, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * The snapshot lifecycle after the pull, against real PostgreSQL and the fake runner: the validation trial run
 * (its verdict decides active or error, a runner without room is retried), deactivation taking the image off the
 * runners (kept while the runner answers 409, taken later), activation wanting it again, and the sweep that
 * deactivates snapshots unused for N days but never general or default ones.
 */

const TOKEN = 'lifecycle-fake-runner-token';

type Snap = { id: string; name: string; state: string; errorReason: string | null; entrypoint: string[] | null };

let db: TestDatabase;
let runner: FakeRunner;
let a: ShoalApp;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let sql: pg.Client;
let pool: pg.Pool;
let lifecycle: SnapshotLifecycle;
/** Refs the fake runner refuses to remove (a sandbox there uses them). */
const inUse = new Set<string>();
let validateAnswer: ((body: { snapshot: string; entrypoint?: string[] }) => { status: number; body: unknown } | undefined) | undefined;

before(async () => {
  db = await createTestDatabase();
  runner = await new FakeRunner({
    token: TOKEN,
    validate: (body) => validateAnswer?.(body),
    remove: (ref) => (inUse.has(ref) ? { status: 409, body: { statusCode: 409, message: `Snapshot ${ref} is in use by a sandbox on this runner` } } : undefined),
  }).start();
  a = await buildTestApp(db.url, { env: { SHOAL_CLAIM_LEASE_MS: '3000' } });
  await registerRunner(a, runner.url, TOKEN);
  tenant = await createTenant(a, 'lifecycle-tenant');
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  pool = createPool(db.url, 2);
  lifecycle = new SnapshotLifecycle(createDb(pool), new HttpSnapshotRunnerClient(TEST_PLATFORM_SECRET), a.log, { autoDeactivateDays: 14, defaultSnapshot: TEST_DEFAULT_SNAPSHOT });
});

after(async () => {
  await a?.close();
  await runner?.stop();
  await sql?.end();
  await pool?.end();
  await db?.drop();
});

async function get(idOrName: string, auth = tenant.auth): Promise<Snap & { statusCode: number }> {
  const res = await a.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(idOrName)}`, headers: auth });
  return { ...(res.json() as Snap), statusCode: res.statusCode };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function activeSnapshot(name: string, imageName: string): Promise<Snap> {
  const res = await a.inject({ method: 'POST', url: '/api/snapshots', headers: tenant.auth, payload: { name, imageName } });
  assert.equal(res.statusCode, 200, res.body);
  const id = (res.json() as Snap).id;
  const s = await until(`${name} settled`, async () => {
    const s = await get(id);
    return ['active', 'error'].includes(s.state) ? s : undefined;
  });
  assert.equal(s.state, 'active', JSON.stringify(s));
  return s;
}

const internalRef = (s: Snap, tag: string) => `127.0.0.1:5100/shoal-${tenant.organizationId}/${s.id}:${tag}`;
const removals = (ref: string) => runner.callsTo('POST', /^\/snapshots\/remove\?/).filter((c) => new URL(c.path, 'http://x').searchParams.get('snapshot') === ref).length;
const copiesRemovedAt = async (id: string) => (await sql.query<{ at: Date | null }>('SELECT runner_copies_removed_at AS at FROM snapshot WHERE id = $1', [id])).rows[0]?.at ?? null;

describe('validation trial run', () => {
  test('the trial runs the internal image with the entrypoint sandboxes get; its verdict makes the snapshot active', async () => {
    const s = await activeSnapshot('trial-ok', '198.18.0.20:5000/team/app:1');
    const trials = runner.callsTo('POST', /^\/snapshots\/validate$/).map((c) => JSON.parse(c.body) as { snapshot: string; entrypoint?: string[] });
    const mine = trials.filter((t) => t.snapshot === internalRef(s, '1'));
    assert.equal(mine.length, 1, 'one trial run on the runner, of the image under the name sandboxes use');
    assert.deepEqual(mine[0]!.entrypoint, ['/bin/sh', '-c', 'sleep 1']);
    assert.deepEqual(s.entrypoint, ['/bin/sh', '-c', 'sleep 1']);
  });

  test('an image the trial finds unable to run sandboxes ends in error with the runner reason', async () => {
    validateAnswer = (b) =>
      b.snapshot.includes('/noshell/') || b.snapshot.endsWith(':noshell')
        ? { status: 200, body: { valid: false, reason: 'sh cannot run in the image (exit code 127: spawn sh ENOENT); commands need /bin/sh', durationMs: 5 } }
        : undefined;
    try {
      const res = await a.inject({ method: 'POST', url: '/api/snapshots', headers: tenant.auth, payload: { name: 'no-shell', imageName: '198.18.0.20:5000/team/app:noshell' } });
      const id = (res.json() as Snap).id;
      const s = await until('no-shell settled', async () => {
        const s = await get(id);
        return ['active', 'error'].includes(s.state) ? s : undefined;
      });
      assert.equal(s.state, 'error');
      assert.match(s.errorReason ?? '', /^Validation failed: sh cannot run in the image .*commands need \/bin\/sh$/);
      const sb = await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'no-shell' } });
      assert.equal(sb.statusCode, 400, sb.body);
    } finally {
      validateAnswer = undefined;
    }
  });

  test('a runner without room for the trial (503) is asked again; the snapshot is not failed for it', async () => {
    let refusals = 0;
    validateAnswer = (b) => {
      if (!b.snapshot.endsWith(':busy')) return undefined;
      if (refusals >= 1) return undefined;
      refusals++;
      return { status: 503, body: { statusCode: 503, message: 'Runner has no free sandbox addresses' } };
    };
    try {
      const s = await activeSnapshot('busy-runner', '198.18.0.20:5000/team/app:busy');
      assert.equal(refusals, 1);
      assert.equal(runner.callsTo('POST', /^\/snapshots\/validate$/).filter((c) => c.body.includes(`${s.id}:busy`)).length, 2);
    } finally {
      validateAnswer = undefined;
    }
  });
});

describe('deactivate and activate', () => {
  test('deactivate takes the image off the runner; a runner that keeps it (409, in use) is asked again later; activate wants it back', async () => {
    const s = await activeSnapshot('deact', '198.18.0.20:5000/team/deact:2');
    const ref = internalRef(s, '2');
    inUse.add(ref);
    const d = await a.inject({ method: 'POST', url: `/api/snapshots/${s.id}/deactivate`, headers: tenant.auth });
    assert.equal(d.statusCode, 204, d.body);
    await until('a removal attempt', async () => (removals(ref) >= 1 ? true : undefined));
    // The runner kept its copy: the snapshot still has copies to remove.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await copiesRemovedAt(s.id), null);
    const kept = await lifecycle.removeRunnerCopies();
    assert.ok(kept.kept.includes(s.id), JSON.stringify(kept));
    assert.equal(await copiesRemovedAt(s.id), null);

    inUse.delete(ref);
    const done = await lifecycle.removeRunnerCopies();
    assert.ok(done.removed.includes(s.id), JSON.stringify(done));
    assert.notEqual(await copiesRemovedAt(s.id), null);
    const before = removals(ref);
    assert.deepEqual((await lifecycle.removeRunnerCopies()).removed.includes(s.id), false, 'removed once, not again');
    assert.equal(removals(ref), before);

    const act = await a.inject({ method: 'POST', url: `/api/snapshots/${s.id}/activate`, headers: tenant.auth });
    assert.equal(act.statusCode, 200, act.body);
    assert.equal(await copiesRemovedAt(s.id), null, 'active again: the next sandbox pulls the image onto its runner');
    const sb = await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'deact' } });
    assert.equal(sb.statusCode, 200, sb.body);
    const createCall = runner.callsTo('POST', /^\/sandboxes$/).map((c) => JSON.parse(c.body) as { id: string; snapshot: string }).find((c) => c.id === (sb.json() as { id: string }).id);
    assert.equal(createCall?.snapshot, ref, 'the runner is given the internal image to pull on demand');
  });

  test('an image another usable snapshot still refers to is not removed', async () => {
    const s = await activeSnapshot('shared-a', '198.18.0.20:5000/team/shared:3');
    const ref = internalRef(s, '3');
    // A second snapshot naming the same image (e.g. an active copy under another name).
    await sql.query(`INSERT INTO snapshot (organization_id, name, image_name, internal_name, state) VALUES ($1, 'shared-b', $2, $2, 'active')`, [tenant.organizationId, ref]);
    assert.equal((await a.inject({ method: 'POST', url: `/api/snapshots/${s.id}/deactivate`, headers: tenant.auth })).statusCode, 204);
    await until('copies settled', async () => ((await copiesRemovedAt(s.id)) !== null ? true : undefined));
    assert.equal(removals(ref), 0);
  });
});

describe('auto-deactivation', () => {
  test('config: 14 days by default, 0 turns it off, garbage is refused', () => {
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://x' }).snapshotAutoDeactivateDays, 14);
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://x', SHOAL_SNAPSHOT_AUTO_DEACTIVATE_DAYS: '0' }).snapshotAutoDeactivateDays, 0);
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgres://x', SHOAL_SNAPSHOT_AUTO_DEACTIVATE_DAYS: 'soon' }));
  });

  test('unused for 14 days: inactive and its image removed; recently used, young, general and default snapshots stay', async () => {
    const old = await activeSnapshot('old-unused', '198.18.0.20:5000/team/old:1');
    const neverUsedOld = await activeSnapshot('never-used-old', '198.18.0.20:5000/team/never:1');
    const usedRecently = await activeSnapshot('used-recently', '198.18.0.20:5000/team/recent:1');
    const young = await activeSnapshot('young', '198.18.0.20:5000/team/young:1');
    const general = await activeSnapshot('general-old', '198.18.0.20:5000/team/general:1');
    assert.equal((await a.inject({ method: 'PATCH', url: `/api/snapshots/${general.id}/general`, headers: adminAuth, payload: { general: true } })).statusCode, 200);
    await sql.query(`UPDATE snapshot SET created_at = now() - interval '40 days', last_used_at = now() - interval '15 days' WHERE id = ANY($1)`, [[old.id, general.id]]);
    await sql.query(`UPDATE snapshot SET created_at = now() - interval '15 days', last_used_at = NULL WHERE id = $1`, [neverUsedOld.id]);
    await sql.query(`UPDATE snapshot SET created_at = now() - interval '40 days', last_used_at = now() - interval '13 days' WHERE id = $1`, [usedRecently.id]);
    await sql.query(`UPDATE snapshot SET created_at = now() - interval '13 days', last_used_at = NULL WHERE id = $1`, [young.id]);
    await sql.query(`UPDATE snapshot SET created_at = now() - interval '400 days', last_used_at = now() - interval '400 days' WHERE name = $1`, [TEST_DEFAULT_SNAPSHOT]);

    const off = new SnapshotLifecycle(createDb(pool), new HttpSnapshotRunnerClient(TEST_PLATFORM_SECRET), a.log, { autoDeactivateDays: 0 });
    assert.deepEqual(await off.sweep(), [], '0 days: off');
    assert.equal((await get(old.id)).state, 'active');

    const gone = await lifecycle.sweep();
    assert.deepEqual(new Set(gone), new Set([old.id, neverUsedOld.id]));
    assert.equal((await get(old.id)).state, 'inactive');
    assert.equal((await get(neverUsedOld.id)).state, 'inactive');
    for (const s of [usedRecently, young, general]) assert.equal((await get(s.id)).state, 'active', s.name);
    assert.equal((await get(TEST_DEFAULT_SNAPSHOT, adminAuth)).state, 'active');
    assert.ok(removals(internalRef(old, '1')) >= 1, 'the deactivated snapshot image is taken off the runner');
    assert.notEqual(await copiesRemovedAt(old.id), null);
    assert.deepEqual(await lifecycle.sweep(), [], 'a second sweep finds nothing');

    // A sandbox created from a snapshot is what counts as use.
    await sql.query(`UPDATE snapshot SET last_used_at = now() - interval '20 days' WHERE id = $1`, [usedRecently.id]);
    const sb = await a.inject({ method: 'POST', url: '/api/sandbox', headers: tenant.auth, payload: { snapshot: 'used-recently' } });
    assert.equal(sb.statusCode, 200, sb.body);
    await until('lastUsedAt refreshed', async () => {
      const r = await sql.query<{ recent: boolean }>(`SELECT last_used_at > now() - interval '1 minute' AS recent FROM snapshot WHERE id = $1`, [usedRecently.id]);
      return r.rows[0]?.recent ? true : undefined;
    });
    assert.deepEqual(await lifecycle.sweep(), []);
    assert.equal((await get(usedRecently.id)).state, 'active');
  });
});
