// Issue 10: the API must outlive its database. A connection that dies while a client is checked out of the pool
// (inside a transaction, or holding the migration lock) must fail that holder's next query, not end the process:
// the fault suite saw the API exit when PostgreSQL was killed at such a moment.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPool } from '../src/db/database.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

test('a checked-out client whose connection is killed fails its next query and the process keeps running', async () => {
  const pool = createPool(db.url, 2);
  const uncaught: unknown[] = [];
  const record = (err: unknown) => uncaught.push(err);
  // node:test reports an uncaught exception as a failure of whatever test runs; recording it here names the cause.
  process.on('uncaughtException', record);
  try {
    const held = await pool.connect();
    await held.query('BEGIN');
    const { rows } = await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    // Another session ends the held one's backend, as a PostgreSQL crash or restart would.
    const killer = new pg.Client({ connectionString: db.url });
    await killer.connect();
    await killer.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await killer.end();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(uncaught, [], 'the lost connection must not surface as an uncaught exception');
    await assert.rejects(held.query('SELECT 1'), 'the holder learns of the loss at its next query');
    held.release(new Error('connection lost'));
    // The pool still serves: the dead client was discarded, a new one connects.
    const r = await pool.query<{ one: number }>('SELECT 1 AS one');
    assert.equal(r.rows[0]!.one, 1);
  } finally {
    process.off('uncaughtException', record);
    await pool.end();
  }
});
