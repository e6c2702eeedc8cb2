import type pg from 'pg';
import { migrations } from './migrations.js';

// Every API process takes this session-level advisory lock around migrations and bootstrap, so two processes
// starting at once on one database apply each migration exactly once and create exactly one admin.
export const ADVISORY_LOCK_ID = 727_001;

/** Runs `fn` while holding the migration advisory lock on a dedicated connection. */
export async function withMigrationLock<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_ID]);
    try {
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_ID]);
    }
  } finally {
    client.release();
  }
}

/** Applies pending migrations; the caller must hold the migration lock. Returns the versions applied. */
export async function applyMigrations(client: pg.PoolClient): Promise<number[]> {
  await client.query(`CREATE TABLE IF NOT EXISTS shoal_migration (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  const { rows } = await client.query<{ version: number }>('SELECT version FROM shoal_migration');
  const done = new Set(rows.map((r) => r.version));
  const applied: number[] = [];
  // Helpers append their versions independently, so the array may be out of order: apply by version number.
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    await client.query('BEGIN');
    try {
      await client.query(m.sql);
      await client.query('INSERT INTO shoal_migration (version, name) VALUES ($1, $2)', [m.version, m.name]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
    }
    applied.push(m.version);
  }
  return applied;
}
