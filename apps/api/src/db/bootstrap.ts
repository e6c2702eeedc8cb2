import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import type { ApiConfig } from '../config.js';
import { PERMISSIONS, generateApiKey, hashApiKey } from '../auth/api-key-format.js';

export const ADMIN_USER_ID = 'shoal-admin';

export interface BootstrapResult {
  /** Set only on the start that created the admin: the key is shown once. */
  adminApiKey?: string;
  adminOrganizationId: string;
}

type BootstrapConfig = Pick<ApiConfig, 'adminApiKey' | 'defaultSnapshot' | 'defaultSnapshotImage' | 'publicUrl' | 'dataDir'>;

/**
 * First-start data: admin user, its personal organization, an API key and the default snapshot. The caller holds the
 * migration advisory lock, so concurrent starts see either nothing or everything.
 */
export async function bootstrap(client: pg.PoolClient, config: BootstrapConfig): Promise<BootstrapResult> {
  await client.query('BEGIN');
  try {
    const existing = await client.query<{ organization_id: string }>(
      `SELECT ou.organization_id FROM organization_user ou JOIN organization o ON o.id = ou.organization_id
        WHERE ou.user_id = $1 AND o.personal ORDER BY o.created_at LIMIT 1`,
      [ADMIN_USER_ID],
    );
    let result: BootstrapResult;
    if (existing.rows[0]) {
      result = { adminOrganizationId: existing.rows[0].organization_id };
    } else {
      await client.query(`INSERT INTO "user" (id, name, email, role) VALUES ($1, 'Shoal Admin', '', 'admin') ON CONFLICT DO NOTHING`, [
        ADMIN_USER_ID,
      ]);
      // The admin's organization gets room for the e2e and benchmark runs (tens of small sandboxes at once).
      const org = await client.query<{ id: string }>(
        `INSERT INTO organization (name, created_by, personal, total_cpu_quota, total_memory_quota, total_disk_quota,
           max_cpu_per_sandbox, max_memory_per_sandbox, max_disk_per_sandbox)
         VALUES ('Personal', $1, true, 200, 400, 2000, 16, 64, 100) RETURNING id`,
        [ADMIN_USER_ID],
      );
      const orgId = org.rows[0]!.id;
      await client.query(`INSERT INTO organization_user (organization_id, user_id, role) VALUES ($1, $2, 'owner')`, [orgId, ADMIN_USER_ID]);
      const key = config.adminApiKey ?? generateApiKey();
      await client.query(
        `INSERT INTO api_key (organization_id, user_id, name, key_hash, key_prefix, key_suffix, permissions)
         VALUES ($1, $2, 'admin', $3, 'dtn', $4, $5)`,
        [orgId, ADMIN_USER_ID, hashApiKey(key), key.slice(-3), [...PERMISSIONS]],
      );
      result = { adminApiKey: key, adminOrganizationId: orgId };
    }
    // The default snapshot may change between starts (new SHOAL_DEFAULT_SNAPSHOT); add it if missing, never rewrite.
    await client.query(
      `INSERT INTO snapshot (organization_id, general, name, image_name, internal_name, state, cpu, gpu, mem, disk)
       VALUES ($1, true, $2, $3, $3, 'active', 1, 0, 1, 3) ON CONFLICT (organization_id, name) DO NOTHING`,
      [result.adminOrganizationId, config.defaultSnapshot, config.defaultSnapshotImage],
    );
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** Writes `<dataDir>/credentials.json` (mode 0600) for the CLI and the e2e tests. */
export async function writeCredentials(dataDir: string, publicUrl: string, apiKey: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, 'credentials.json');
  await writeFile(file, JSON.stringify({ apiUrl: `${publicUrl}/api`, apiKey }, null, 2) + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
