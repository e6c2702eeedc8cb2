import type { FastifyServerOptions } from 'fastify';
import type { ApiConfig } from './config.js';
import { createPool } from './db/database.js';
import { applyMigrations, withMigrationLock } from './db/migrate.js';
import { bootstrap, writeCredentials } from './db/bootstrap.js';
import { build, type ShoalApp } from './app.js';
import { ensurePlatformSecret } from './auth/platform-secret.js';

export interface RunningApi {
  app: ShoalApp;
  /** `<publicUrl>/api`, what SDK users put in DAYTONA_API_URL. */
  apiUrl: string;
  /** Set only on the first start of an empty database (the key is stored hashed and never shown again). */
  adminApiKey?: string;
  credentialsFile?: string;
  close(): Promise<void>;
}

/**
 * Migrates (under the advisory lock), bootstraps, builds and listens. main.ts calls this; `shoal up` may call it
 * in-process instead of spawning main.ts.
 */
export async function startApi(given: Readonly<ApiConfig>, logger: FastifyServerOptions['logger'] = { level: 'info' }): Promise<RunningApi> {
  let platformSecret = given.platformSecret;
  if (!platformSecret) {
    if (!given.dataDir) throw new Error('SHOAL_PLATFORM_SECRET is required when SHOAL_DATA_DIR is not set (every API replica needs the same value)');
    platformSecret = await ensurePlatformSecret(given.dataDir);
  }
  const config: Readonly<ApiConfig> = Object.freeze({ ...given, platformSecret });
  const pool = createPool(config.databaseUrl, 20);
  try {
    const boot = await withMigrationLock(pool, async (client) => {
      await applyMigrations(client);
      return bootstrap(client, config);
    });
    let credentialsFile: string | undefined;
    if (boot.adminApiKey && config.dataDir && config.writeCredentials !== false) credentialsFile = await writeCredentials(config.dataDir, config.publicUrl, boot.adminApiKey);
    const app = await build({ config, pool, logger });
    await app.listen({ host: config.host, port: config.port });
    return {
      app,
      apiUrl: `${config.publicUrl}/api`,
      ...(boot.adminApiKey ? { adminApiKey: boot.adminApiKey } : {}),
      ...(credentialsFile ? { credentialsFile } : {}),
      async close() {
        await app.close();
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
}
