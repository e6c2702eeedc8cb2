import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, registerRunner } from './helpers/app.js';
import { FakeRunner } from './helpers/fake-runner.js';

/*
 * Archive and backup state rules against two fake runners (issue 13 items 3-4): archive only from stopped, the
 * runner's copy is gone afterwards and start restores it on the runner the scheduler picks; backups go
 * Pending -> InProgress -> Completed | Error, one at a time, resume after an API crash; a stopped sandbox whose runner
 * lost it or is gone is recovered from its last backup.
 */

let db: TestDatabase;
let a: FakeRunner;
let b: FakeRunner;
let app: ShoalApp;
let sql: pg.Client;
const runnerOf = new Map<string, FakeRunner>();
const failBackup = new Map<FakeRunner, Set<string>>();

before(async () => {
  db = await createTestDatabase();
  const failA = new Set<string>();
  const failB = new Set<string>();
  a = await new FakeRunner({ token: 'arch-runner-a-token-0123', failBackup: failA, layerDelayMs: 300 }).start();
  b = await new FakeRunner({ token: 'arch-runner-b-token-0123', failBackup: failB, layerDelayMs: 300 }).start();
  failBackup.set(a, failA).set(b, failB);
  app = await buildTestApp(db.url, { env: { SHOAL_RECONCILE_INTERVAL_MS: '100' } });
  runnerOf.set(await registerRunner(app, a.url, 'arch-runner-a-token-0123', 'runner-a.test'), a);
  runnerOf.set(await registerRunner(app, b.url, 'arch-runner-b-token-0123', 'runner-b.test'), b);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

after(async () => {
  await sql?.end();
  await app?.close();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

interface Dto {
  id: string;
  state: string;
  backupState: string;
  backupCreatedAt?: string;
  errorReason?: string;
}

const call = (method: 'GET' | 'POST' | 'DELETE', url: string) => app.inject({ method, url: `/api/sandbox${url}`, headers: adminAuth });
const get = async (id: string) => (await call('GET', `/${id}`)).json() as Dto;

async function row(id: string): Promise<{ runner_id: string | null; state: string; backup_state: string; backup_snapshot: string | null; backup_error_reason: string | null; existing_backup_snapshots: unknown[] }> {
  return (await sql.query('SELECT * FROM sandbox WHERE id = $1', [id])).rows[0];
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function createStarted(payload: object = {}): Promise<string> {
  const r = await app.inject({ method: 'POST', url: '/api/sandbox', headers: adminAuth, payload });
  assert.equal(r.statusCode, 200, r.body);
  const id = (r.json() as Dto).id;
  await until('started', async () => (await get(id)).state === 'started');
  return id;
}

async function stop(id: string): Promise<void> {
  assert.equal((await call('POST', `/${id}/stop`)).statusCode, 200);
  await until('stopped', async () => (await get(id)).state === 'stopped');
}

async function backupDone(id: string): Promise<Dto> {
  return until('backup settled', async () => {
    const d = await get(id);
    return d.backupState === 'Completed' || d.backupState === 'Error' ? d : undefined;
  });
}

test('archive is refused unless stopped, and for ephemeral sandboxes', async () => {
  const id = await createStarted();
  const r = await call('POST', `/${id}/archive`);
  assert.equal(r.statusCode, 400);
  assert.equal((r.json() as { message: string }).message, 'Sandbox is not stopped');
  const eph = await createStarted({ autoDeleteInterval: 0 });
  const e = await call('POST', `/${eph}/backup`);
  assert.equal(e.statusCode, 400);
  assert.equal((e.json() as { message: string }).message, 'Ephemeral sandboxes cannot be backed up');
});

test('archive frees the runner; start restores the sandbox on the runner the scheduler picks', async () => {
  const id = await createStarted();
  const first = (await row(id)).runner_id!;
  const holder = runnerOf.get(first)!;
  await stop(id);
  assert.equal((await call('POST', `/${id}/archive`)).statusCode, 200);
  await until('archived', async () => (await get(id)).state === 'archived');
  const archived = await row(id);
  assert.equal(archived.runner_id, null, 'an archived sandbox has no runner');
  assert.ok(!holder.states.has(id), "the runner's copy is gone");
  assert.ok(holder.stored.has(`sandboxes/${id}/archive.tar.zst`));
  // A second archive of an archived sandbox is refused (not stopped); so is a backup (nothing on a runner).
  assert.equal((await call('POST', `/${id}/archive`)).statusCode, 400);
  assert.equal((await call('POST', `/${id}/backup`)).statusCode, 400);

  // The runner that held it may take no new sandboxes: the restore goes to the other one.
  await sql.query('UPDATE runner SET unschedulable = true WHERE id = $1', [first]);
  try {
    const other = [...runnerOf.entries()].find(([rid]) => rid !== first)!;
    other[1].stored.add(`sandboxes/${id}/archive.tar.zst`); // one object storage shared by both runners
    assert.equal((await call('POST', `/${id}/start`)).statusCode, 200);
    await until('started after restore', async () => (await get(id)).state === 'started');
    assert.equal((await row(id)).runner_id, other[0]);
    assert.deepEqual(other[1].restored.filter((x) => x.id === id), [{ id, key: `sandboxes/${id}/archive.tar.zst` }]);
  } finally {
    await sql.query('UPDATE runner SET unschedulable = false WHERE id = $1', [first]);
  }
});

test('a start that reads the sandbox archiving, while the archive settles under it, starts it (no 400)', async () => {
  const id = await createStarted();
  await stop(id);
  const org = (await sql.query('SELECT organization_id FROM sandbox WHERE id = $1', [id])).rows[0].organization_id as string;
  // Holding the organization's row keeps the start between its read and its guarded write until the archive settles.
  await sql.query('BEGIN');
  let released = false;
  try {
    await sql.query('SELECT id FROM organization WHERE id = $1 FOR UPDATE', [org]);
    assert.equal((await call('POST', `/${id}/archive`)).statusCode, 200);
    assert.equal((await get(id)).state, 'archiving');
    const started = call('POST', `/${id}/start`);
    await until('archive settled', async () => (await row(id)).state === 'archived');
    // One object storage shared by both runners: the restore may be placed on either.
    for (const fake of runnerOf.values()) fake.stored.add(`sandboxes/${id}/archive.tar.zst`);
    await sql.query('COMMIT');
    released = true;
    const r = await started;
    assert.equal(r.statusCode, 200, r.body);
    await until('started after restore', async () => (await get(id)).state === 'started');
  } finally {
    if (!released) await sql.query('ROLLBACK');
  }
});

test('backup: Pending -> InProgress -> Completed, one at a time; a failure is Error with the reason', async () => {
  const id = await createStarted();
  const holder = runnerOf.get((await row(id)).runner_id!)!;
  const r = await call('POST', `/${id}/backup`);
  assert.equal(r.statusCode, 201, r.body);
  assert.ok(['Pending', 'InProgress'].includes((r.json() as Dto).backupState));
  // The fake takes 300 ms per backup: a second request meanwhile conflicts.
  const again = await call('POST', `/${id}/backup`);
  assert.equal(again.statusCode, 400);
  assert.equal((again.json() as { message: string }).message, 'Sandbox backup is already in progress');
  const done = await backupDone(id);
  assert.equal(done.backupState, 'Completed');
  assert.ok(done.backupCreatedAt);
  const stored = await row(id);
  assert.match(stored.backup_snapshot!, new RegExp(`^sandboxes/${id}/backups/[0-9TZ-]+\\.tar\\.zst$`));
  assert.ok(holder.stored.has(stored.backup_snapshot!));
  assert.ok(stored.existing_backup_snapshots.length >= 1);

  failBackup.get(holder)!.add(id);
  await until('second backup accepted', async () => (await call('POST', `/${id}/backup`)).statusCode === 201);
  const failed = await backupDone(id);
  assert.equal(failed.backupState, 'Error');
  const after = await row(id);
  assert.match(after.backup_error_reason!, /object storage unreachable/);
  assert.equal(after.backup_snapshot, stored.backup_snapshot, 'the last good backup stays what recovery uses');
});

test('a backup left InProgress by a crashed API process is run again once its lease expires', async () => {
  const id = await createStarted();
  await sql.query(`UPDATE sandbox SET backup_state = 'InProgress', backup_claimed_by = 'api-dead', backup_claim_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
  const done = await backupDone(id);
  assert.equal(done.backupState, 'Completed');
});

test("a stopped sandbox whose runner lost its copy is recovered from its last backup on start", async () => {
  const id = await createStarted();
  assert.equal((await call('POST', `/${id}/backup`)).statusCode, 201);
  assert.equal((await backupDone(id)).backupState, 'Completed');
  await stop(id);
  const { runner_id, backup_snapshot } = await row(id);
  const holder = runnerOf.get(runner_id!)!;
  holder.states.delete(id); // the runner's copy is destroyed
  for (const r of runnerOf.values()) r.stored.add(backup_snapshot!);
  assert.equal((await call('POST', `/${id}/start`)).statusCode, 200);
  await until('recovered', async () => (await get(id)).state === 'started');
  const restoredOn = runnerOf.get((await row(id)).runner_id!)!;
  assert.ok(restoredOn.restored.some((x) => x.id === id && x.key === backup_snapshot));
});

test('without a backup, a sandbox whose runner lost it ends in error with the reason', async () => {
  const id = await createStarted();
  await stop(id);
  runnerOf.get((await row(id)).runner_id!)!.states.delete(id);
  await call('POST', `/${id}/start`);
  const d = await until('error', async () => {
    const x = await get(id);
    return x.state === 'error' ? x : undefined;
  });
  assert.match(d.errorReason ?? '', /not found/);
});
