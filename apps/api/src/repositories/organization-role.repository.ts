import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { OrganizationRole } from '../db/schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Global roles (organization_id null, seeded by migration 10) and each organization's own roles. */
export class OrganizationRoleRepository {
  constructor(private readonly db: Db) {}

  /** The global roles first, then the organization's own, each by name. */
  listAssignable(organizationId: string): Promise<OrganizationRole[]> {
    return this.db
      .selectFrom('organizationRole')
      .selectAll()
      .where((eb) => eb.or([eb('isGlobal', '=', true), eb('organizationId', '=', organizationId)]))
      .orderBy('isGlobal', 'desc')
      .orderBy('name')
      .orderBy('createdAt')
      .execute();
  }

  findById(id: string): Promise<OrganizationRole | undefined> {
    if (!UUID.test(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('organizationRole').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Of `ids`, the ones that are neither global nor a role of this organization (unknown or another's). */
  async unassignable(organizationId: string, ids: string[]): Promise<string[]> {
    const valid = ids.filter((id) => UUID.test(id));
    const found = valid.length
      ? await this.db
          .selectFrom('organizationRole')
          .select('id')
          .where('id', 'in', valid)
          .where((eb) => eb.or([eb('isGlobal', '=', true), eb('organizationId', '=', organizationId)]))
          .execute()
      : [];
    const ok = new Set(found.map((r) => r.id.toLowerCase()));
    return ids.filter((id) => !ok.has(id.toLowerCase()));
  }

  create(organizationId: string, r: { name: string; description: string; permissions: string[] }): Promise<OrganizationRole> {
    return this.db
      .insertInto('organizationRole')
      .values({ organizationId, name: r.name, description: r.description, permissions: r.permissions, isGlobal: false })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  update(id: string, r: { name: string; description: string; permissions: string[] }): Promise<OrganizationRole | undefined> {
    return this.db
      .updateTable('organizationRole')
      .set({ name: r.name, description: r.description, permissions: r.permissions, updatedAt: sql`now()` })
      .where('id', '=', id)
      .where('isGlobal', '=', false)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('organizationRole').where('id', '=', id).where('isGlobal', '=', false).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
