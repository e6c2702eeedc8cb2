import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// int8 (count(*), sums) would otherwise arrive as strings; our counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export type Db = Kysely<Database>;

export function createPool(databaseUrl: string, max = 10): pg.Pool {
  // Idle connections close after a minute, not pg's 10 s: a new connection's server process starts with cold caches
  // and compiles each PL/pgSQL function again on first call (20 ms for the claim's, measured), which a request that
  // came 10 s after the last one paid in the middle of a warm-pool claim.
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 60_000 });
  // An idle client losing its connection emits 'error' on the pool; without a listener that would crash the process.
  pool.on('error', () => {});
  // pg-pool takes its own listener off a client while it is checked out (a Kysely transaction, the migration lock),
  // so a database that dies between two queries of that holder would emit an unhandled 'error' and end the API.
  // With this listener the holder's next query fails instead, and the pool discards the dead client on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

export function createDb(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] });
}
