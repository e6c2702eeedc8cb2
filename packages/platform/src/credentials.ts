import { readFile } from 'node:fs/promises';
import { adminOrganizationId, apiKeyExists, mintAdminApiKey } from './api-keys.js';

export const CREDENTIALS = 'credentials.json';
/** A first start's key before the platform is ready: private (0600, dot file), renamed into place by the publish. */
export const PENDING_CREDENTIALS = '.credentials.pending.json';
/** The name of the key the supervisor registers runners with; replaced on every start. */
export const SUPERVISOR_KEY_NAME = 'shoal-platform';

export interface Credentials {
  apiUrl: string;
  apiKey: string;
}

/** The file's content, or undefined when it is missing or unreadable as credentials. */
export async function readCredentials(file: string): Promise<Credentials | undefined> {
  try {
    const c = JSON.parse(await readFile(file, 'utf8')) as Partial<Credentials>;
    return typeof c.apiKey === 'string' && typeof c.apiUrl === 'string' ? { apiUrl: c.apiUrl, apiKey: c.apiKey } : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function withClient<T>(databaseUrl: string, fn: (c: import('pg').Client) => Promise<T>): Promise<T> {
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Mints (replacing the previous one) the supervisor's own admin key. Needs the API's migrations and bootstrap done. */
export async function mintSupervisorKey(databaseUrl: string): Promise<string> {
  return withClient(databaseUrl, async (c) => {
    const org = await adminOrganizationId(c);
    if (!org) throw new Error('the API did not create the admin organization');
    return mintAdminApiKey(c, org, { name: SUPERVISOR_KEY_NAME, replace: true });
  });
}

/**
 * Which user key this start publishes: the one already in credentials.json (when the database knows it), else the
 * pending first-start key (when the bootstrap stored it), else none: the file was lost and only `shoal credentials
 * reset` can make a new one (the database keeps hashes only).
 */
export async function publishedKeyState(databaseUrl: string, published: string | undefined, pending: string | undefined): Promise<{ key: string; pending: boolean } | undefined> {
  return withClient(databaseUrl, async (c) => {
    if (published && (await apiKeyExists(c, published))) return { key: published, pending: false };
    if (pending && (await apiKeyExists(c, pending))) return { key: pending, pending: true };
    return undefined;
  });
}

/** Mints a new admin key named `name` against the database and returns it (for `shoal credentials reset`). */
export async function mintRecoveryKey(databaseUrl: string, name: string): Promise<string> {
  return withClient(databaseUrl, async (c) => {
    const org = await adminOrganizationId(c);
    if (!org) throw new Error('this database has no Shoal admin yet: start the platform once (npm start)');
    return mintAdminApiKey(c, org, { name });
  });
}

/** Polls GET /api/health/ready until 200; the last report is in the error when it does not come in time. */
export async function waitForReady(apiUrl: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the API exited while waiting for readiness');
    try {
      const res = await fetch(`${apiUrl}/health/ready`, { signal: AbortSignal.timeout(10_000) });
      last = await res.text();
      if (res.status === 200) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the platform did not become ready in ${Math.round(timeoutMs / 1000)} s: ${last}`);
}

export interface ResetResult {
  apiUrl: string;
  apiKey: string;
  file: string;
  keyName: string;
}

/**
 * `shoal credentials reset`: mints a new admin key straight into the platform's database (running or stopped; a
 * stopped embedded PostgreSQL is started for the moment it takes) and rewrites credentials.json atomically. Earlier
 * keys stay valid until revoked (DELETE /api/api-keys/{name}).
 */
export async function resetCredentials(dataDir: string, opts: { databaseUrl?: string; log?: (l: string) => void } = {}): Promise<ResetResult> {
  const { join, resolve } = await import('node:path');
  const { existsSync } = await import('node:fs');
  const { writeCredentials } = await import('./api-keys.js');
  dataDir = resolve(dataDir);
  const layoutFile = join(dataDir, 'platform.json');
  if (!existsSync(layoutFile)) throw new Error(`${dataDir} holds no Shoal platform (no platform.json); start it once with npm start`);
  const layout = JSON.parse(await readFile(layoutFile, 'utf8')) as { apiUrl?: string; postgresPort: number };
  const apiUrl = layout.apiUrl ?? 'http://127.0.0.1:3000/api';
  const keyName = `admin-recovered-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  let apiKey: string;
  if (opts.databaseUrl) {
    apiKey = await mintRecoveryKey(opts.databaseUrl, keyName);
  } else {
    const { startEmbeddedPostgres, EMBEDDED_DEFAULTS } = await import('./embedded-db.js');
    const url = EMBEDDED_DEFAULTS.urlFor(layout.postgresPort, 'shoal');
    try {
      apiKey = await mintRecoveryKey(url, keyName);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw err;
      // The platform is stopped: run its PostgreSQL just long enough to add the key.
      opts.log?.('starting the stopped platform\'s PostgreSQL to add the key');
      const pg = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), port: layout.postgresPort });
      try {
        apiKey = await mintRecoveryKey(pg.urlFor('shoal'), keyName);
      } finally {
        await pg.stop();
      }
    }
  }
  const file = await writeCredentials(dataDir, apiUrl.replace(/\/api\/?$/, ''), apiKey);
  return { apiUrl, apiKey, file, keyName };
}
