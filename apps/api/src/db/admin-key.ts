import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PERMISSIONS, apiKeyRecord } from '../auth/api-key-format.js';

export { generateApiKey } from '../auth/api-key-format.js';

export const ADMIN_USER_ID = 'shoal-admin';

/** What minting needs of a connection: a pg Client, PoolClient or Pool. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** The admin's personal organization, or undefined before the first bootstrap. */
export async function adminOrganizationId(q: Queryable): Promise<string | undefined> {
  const r = await q.query<{ organization_id: string }>(
    `SELECT ou.organization_id FROM organization_user ou JOIN organization o ON o.id = ou.organization_id
      WHERE ou.user_id = $1 AND o.personal ORDER BY o.created_at LIMIT 1`,
    [ADMIN_USER_ID],
  );
  return r.rows[0]?.organization_id;
}

export interface MintOptions {
  /** The key's name; unique per (organization, user). */
  name: string;
  /** A key chosen by the caller (SHOAL_ADMIN_API_KEY, or one the platform generated for the first start). */
  value?: string;
  /** Delete an existing key of the same name first (the platform supervisor's own key is rotated on every start). */
  replace?: boolean;
}

/**
 * Inserts a full-permission API key for the Shoal admin and returns it (the only time the value is known: the database
 * keeps its hash). Used by the first-start bootstrap, the platform supervisor and `shoal credentials reset`; keys the
 * API's endpoint creates go through ApiKeyService with the same `apiKeyRecord`.
 */
export async function mintAdminApiKey(q: Queryable, organizationId: string, opts: MintOptions): Promise<string> {
  const { value, keyHash, keyPrefix, keySuffix } = apiKeyRecord(opts.value);
  if (opts.replace) await q.query(`DELETE FROM api_key WHERE organization_id = $1 AND user_id = $2 AND name = $3`, [organizationId, ADMIN_USER_ID, opts.name]);
  const r = await q.query(
    `INSERT INTO api_key (organization_id, user_id, name, key_hash, key_prefix, key_suffix, permissions)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [organizationId, ADMIN_USER_ID, opts.name, keyHash, keyPrefix, keySuffix, [...PERMISSIONS]],
  );
  if (r.rowCount !== 1) throw new Error(`an API key named "${opts.name}" already exists for the admin`);
  return value;
}

/** Whether `value` is a stored, unexpired API key (the platform checks the key it is about to publish). */
export async function apiKeyExists(q: Queryable, value: string): Promise<boolean> {
  const r = await q.query(`SELECT 1 FROM api_key WHERE key_hash = $1 AND (expires_at IS NULL OR expires_at > now())`, [apiKeyRecord(value).keyHash]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Writes `<dataDir>/credentials.json` (mode 0600) atomically: a reader polling for the file sees nothing or all of it,
 * never a half-written or world-readable file.
 */
export async function writeCredentials(dataDir: string, publicUrl: string, apiKey: string, fileName = 'credentials.json'): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, fileName);
  const tmp = join(dataDir, `.${fileName}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify({ apiUrl: `${publicUrl.replace(/\/+$/, '')}/api`, apiKey }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return file;
}
