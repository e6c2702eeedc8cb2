import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Runner, Snapshot } from '../db/schema.js';
import { suspendedPastGrace } from './organization.repository.js';

/** The SQL of reconciler/snapshot-lifecycle.ts: auto-deactivation and the removal of inactive snapshots' runner copies. */
export class SnapshotLifecycleRepository {
  constructor(private readonly db: Db) {}

  /**
   * Active snapshots of an organization not used (or, never used, not created) for `days` days become inactive in one
   * statement, so API replicas sweeping at once deactivate each snapshot once. General snapshots, the default one
   * among them, are every organization's and never go.
   */
  async deactivateUnused(days: number, keepName: string | undefined): Promise<Pick<Snapshot, 'id' | 'name' | 'organizationId'>[]> {
    let q = this.db
      .updateTable('snapshot')
      .set({ state: 'inactive', runnerCopiesRemovedAt: null, updatedAt: sql`now()` })
      .where('state', '=', 'active')
      .where('general', '=', false)
      .where('organizationId', 'is not', null)
      .where(sql<boolean>`COALESCE(last_used_at, created_at) < now() - ${days} * interval '1 day'`);
    if (keepName) q = q.where('name', '<>', keepName);
    return q.returning(['id', 'name', 'organizationId']).execute();
  }

  /**
   * Active snapshots of organizations suspended past their cleanup grace period become inactive, as in the reference;
   * the owner activates them again after the suspension ends.
   */
  deactivateSuspended(): Promise<Pick<Snapshot, 'id' | 'name' | 'organizationId'>[]> {
    return this.db
      .updateTable('snapshot')
      .set({ state: 'inactive', runnerCopiesRemovedAt: null, updatedAt: sql`now()` })
      .where('state', '=', 'active')
      .where('general', '=', false)
      .where(sql<boolean>`organization_id IN (${suspendedPastGrace})`)
      .returning(['id', 'name', 'organizationId'])
      .execute();
  }

  /** Inactive snapshots whose image may still be on runners. */
  withRunnerCopies(limit: number): Promise<Snapshot[]> {
    return this.db
      .selectFrom('snapshot')
      .selectAll()
      .where('state', '=', 'inactive')
      .where('runnerCopiesRemovedAt', 'is', null)
      .orderBy('updatedAt')
      .limit(limit)
      .execute();
  }

  /** Only while the snapshot is still inactive: an activation in between keeps its copies wanted. */
  async markCopiesRemoved(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('snapshot')
      .set({ runnerCopiesRemovedAt: sql`now()` })
      .where('id', '=', id)
      .where('state', '=', 'inactive')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async stillInactive(id: string): Promise<boolean> {
    const r = await this.db.selectFrom('snapshot').select('id').where('id', '=', id).where('state', '=', 'inactive').executeTakeFirst();
    return r !== undefined;
  }

  /** Whether another snapshot that may still be used refers to the same image on the runners. */
  async imageWantedByAnother(ref: string, exceptId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('snapshot')
      .select('id')
      .where('id', '<>', exceptId)
      .where('state', 'not in', ['removing', 'inactive'])
      .where((eb) => eb.or([eb('internalName', '=', ref), eb('imageName', '=', ref)]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  readyRunners(): Promise<Runner[]> {
    return this.db.selectFrom('runner').selectAll().where('state', '=', 'ready').execute();
  }
}
