import type pg from 'pg';
import { DESKTOP_SNAPSHOT, desktopImageRef } from '@shoal/contracts';
import type { ApiConfig } from '../config.js';
import { ADMIN_USER_ID, adminOrganizationId, mintAdminApiKey, writeCredentials } from './admin-key.js';

export { ADMIN_USER_ID, writeCredentials };

export interface BootstrapResult {
  /** Set only on the start that created the admin: the key is shown once. */
  adminApiKey?: string;
  adminOrganizationId: string;
}

type BootstrapConfig = Pick<ApiConfig, 'adminApiKey' | 'defaultSnapshot' | 'defaultSnapshotImage' | 'desktopSnapshot' | 'publicUrl' | 'dataDir'>;

/**
 * First-start data: admin user, its personal organization, an API key and the default snapshot. The caller holds the
 * migration advisory lock, so concurrent starts see either nothing or everything.
 */
export async function bootstrap(client: pg.PoolClient, config: BootstrapConfig): Promise<BootstrapResult> {
  await client.query('BEGIN');
  try {
    const existing = await adminOrganizationId(client);
    let result: BootstrapResult;
    if (existing) {
      result = { adminOrganizationId: existing };
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
      const key = await mintAdminApiKey(client, orgId, { name: 'admin', ...(config.adminApiKey ? { value: config.adminApiKey } : {}) });
      result = { adminApiKey: key, adminOrganizationId: orgId };
    }
    // The default snapshot may change between starts (new SHOAL_DEFAULT_SNAPSHOT); add it if missing, never rewrite.
    await client.query(
      `INSERT INTO snapshot (organization_id, general, name, image_name, internal_name, state, cpu, gpu, mem, disk)
       VALUES ($1, true, $2, $3, $3, 'active', 1, 0, 1, 3) ON CONFLICT (organization_id, name) DO NOTHING`,
      [result.adminOrganizationId, config.defaultSnapshot, config.defaultSnapshotImage],
    );
    if (config.desktopSnapshot) {
      // Active from the start: the runner a sandbox lands on builds the image from Debian packages on first use
      // (minutes, shown in the runner's log), then keeps it in the internal registry for the others.
      await client.query(
        `INSERT INTO snapshot (organization_id, general, name, image_name, internal_name, state, cpu, gpu, mem, disk)
         VALUES ($1, true, $2, $3, $3, 'active', 1, 0, 2, 5) ON CONFLICT (organization_id, name) DO NOTHING`,
        [result.adminOrganizationId, DESKTOP_SNAPSHOT, desktopImageRef(config.defaultSnapshotImage.split('/')[0] ?? '')],
      );
    }
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}
