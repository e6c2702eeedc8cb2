import { sql, type Updateable } from 'kysely';
import type { Db } from '../db/database.js';
import type { DockerRegistry, DockerRegistryTable, RegistryPushAccess } from '../db/schema.js';

export type NewDockerRegistry = Omit<DockerRegistry, 'createdAt' | 'updatedAt' | 'isFallback' | 'region'>;

export class DockerRegistryRepository {
  constructor(private readonly db: Db) {}

  insert(row: NewDockerRegistry): Promise<DockerRegistry> {
    return this.db.insertInto('dockerRegistry').values({ ...row, region: null }).returningAll().executeTakeFirstOrThrow();
  }

  countForOrganization(organizationId: string): Promise<number> {
    return this.db
      .selectFrom('dockerRegistry')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organizationId', '=', organizationId)
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }

  listForOrganization(organizationId: string): Promise<DockerRegistry[]> {
    return this.db.selectFrom('dockerRegistry').selectAll().where('organizationId', '=', organizationId).orderBy('createdAt').orderBy('id').execute();
  }

  findById(id: string): Promise<DockerRegistry | undefined> {
    return this.db.selectFrom('dockerRegistry').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async update(id: string, set: Updateable<DockerRegistryTable>): Promise<DockerRegistry | undefined> {
    return this.db
      .updateTable('dockerRegistry')
      .set({ ...set, updatedAt: sql`now()` })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('dockerRegistry').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** One default per organization and registry type: the new default replaces the old one atomically. */
  setDefault(row: DockerRegistry): Promise<DockerRegistry> {
    return this.db.transaction().execute(async (trx) => {
      let others = trx.updateTable('dockerRegistry').set({ isDefault: false, updatedAt: sql`now()` }).where('registryType', '=', row.registryType).where('id', '<>', row.id).where('isDefault', '=', true);
      others = row.organizationId === null ? others.where('organizationId', 'is', null) : others.where('organizationId', '=', row.organizationId);
      await others.execute();
      return trx.updateTable('dockerRegistry').set({ isDefault: true, updatedAt: sql`now()` }).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
    });
  }

  /** The row standing for Shoal's own registry (no organization, no stored credentials), created on first use. */
  async ensureInternal(url: string): Promise<DockerRegistry> {
    const found = await this.db.selectFrom('dockerRegistry').selectAll().where('registryType', '=', 'internal').where('organizationId', 'is', null).where('url', '=', url).orderBy('createdAt').executeTakeFirst();
    if (found) return found;
    // Two API processes may race here; the lowest id wins for both, so they answer with the same registryId.
    await this.db.insertInto('dockerRegistry').values({ id: sql`gen_random_uuid()`, name: 'Shoal internal registry', url, registryType: 'internal', isDefault: true, organizationId: null, region: null }).execute();
    return this.db.selectFrom('dockerRegistry').selectAll().where('registryType', '=', 'internal').where('organizationId', 'is', null).where('url', '=', url).orderBy('createdAt').orderBy('id').executeTakeFirstOrThrow();
  }

  /** Stores push credentials and drops the expired ones, which can never be used again. */
  async insertPushAccess(row: Omit<RegistryPushAccess, 'createdAt'>): Promise<void> {
    await this.db.deleteFrom('registryPushAccess').where('expiresAt', '<', sql<Date>`now()`).execute();
    await this.db.insertInto('registryPushAccess').values(row).execute();
  }

  findLivePushAccess(username: string): Promise<RegistryPushAccess | undefined> {
    return this.db.selectFrom('registryPushAccess').selectAll().where('username', '=', username).where('expiresAt', '>', sql<Date>`now()`).executeTakeFirst();
  }

  findRunnerIdByTokenHash(tokenHash: string): Promise<{ id: string } | undefined> {
    return this.db.selectFrom('runner').select('id').where('apiKeyHash', '=', tokenHash).executeTakeFirst();
  }
}
