import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { OrganizationInvitation, OrganizationRole } from '../db/schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface InvitationRow extends OrganizationInvitation {
  organizationName: string;
}

/** Invitations to organizations, matched by lower-case e-mail; at most one pending per organization and e-mail. */
export class OrganizationInvitationRepository {
  constructor(private readonly db: Db) {}

  /** Pending, unexpired invitations of an organization. */
  listPendingForOrganization(organizationId: string): Promise<InvitationRow[]> {
    return this.base().where('organizationInvitation.organizationId', '=', organizationId).where(pendingNow).orderBy('organizationInvitation.createdAt', 'desc').execute();
  }

  /** Pending, unexpired invitations addressed to `email` (lower-case). */
  listPendingForEmail(email: string): Promise<InvitationRow[]> {
    return this.base().where('organizationInvitation.email', '=', email).where(pendingNow).orderBy('organizationInvitation.createdAt', 'desc').execute();
  }

  async countPendingForEmail(email: string): Promise<number> {
    const r = await this.db
      .selectFrom('organizationInvitation')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('email', '=', email)
      .where(pendingNow)
      .executeTakeFirstOrThrow();
    return r.n;
  }

  /** `forUpdate` locks the row, so an accept and a cancel of one invitation cannot both win. */
  find(id: string, opts: { forUpdate?: boolean } = {}): Promise<InvitationRow | undefined> {
    if (!UUID.test(id)) return Promise.resolve(undefined);
    let q = this.base().where('organizationInvitation.id', '=', id);
    if (opts.forUpdate) q = q.forUpdate('organizationInvitation');
    return q.executeTakeFirst();
  }

  /** A pending invitation left to expire no longer blocks a new one for the same address. */
  async retireExpired(organizationId: string, email: string): Promise<void> {
    await this.db
      .updateTable('organizationInvitation')
      .set({ status: 'cancelled', updatedAt: sql`now()` })
      .where('organizationId', '=', organizationId)
      .where('email', '=', email)
      .where('status', '=', 'pending')
      .where('expiresAt', '<=', sql<Date>`now()`)
      .execute();
  }

  /** Undefined when a pending invitation for (organization, email) exists already. */
  async insert(i: { organizationId: string; email: string; invitedBy: string; role: 'owner' | 'member'; expiresAt: Date | null }): Promise<string | undefined> {
    const row = await this.db
      .insertInto('organizationInvitation')
      .values({
        organizationId: i.organizationId,
        email: i.email,
        invitedBy: i.invitedBy,
        role: i.role,
        ...(i.expiresAt ? { expiresAt: i.expiresAt } : {}),
      })
      .onConflict((oc) => oc.columns(['organizationId', 'email']).where('status', '=', 'pending').doNothing())
      .returning('id')
      .executeTakeFirst();
    return row?.id;
  }

  async update(id: string, set: { role: 'owner' | 'member'; expiresAt?: Date }): Promise<void> {
    await this.db
      .updateTable('organizationInvitation')
      .set({ role: set.role, ...(set.expiresAt ? { expiresAt: set.expiresAt } : {}), updatedAt: sql`now()` })
      .where('id', '=', id)
      .execute();
  }

  async setStatus(id: string, status: 'accepted' | 'declined' | 'cancelled'): Promise<void> {
    await this.db.updateTable('organizationInvitation').set({ status, updatedAt: sql`now()` }).where('id', '=', id).execute();
  }

  async replaceRoles(invitationId: string, roleIds: string[]): Promise<void> {
    await this.db.deleteFrom('organizationInvitationRole').where('invitationId', '=', invitationId).execute();
    if (roleIds.length) await this.db.insertInto('organizationInvitationRole').values(roleIds.map((roleId) => ({ invitationId, roleId }))).execute();
  }

  async roles(invitationIds: string[]): Promise<Map<string, OrganizationRole[]>> {
    const out = new Map<string, OrganizationRole[]>();
    if (invitationIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('organizationInvitationRole')
      .innerJoin('organizationRole', 'organizationRole.id', 'organizationInvitationRole.roleId')
      .selectAll('organizationRole')
      .select('organizationInvitationRole.invitationId')
      .where('organizationInvitationRole.invitationId', 'in', invitationIds)
      .orderBy('organizationRole.isGlobal', 'desc')
      .orderBy('organizationRole.name')
      .execute();
    for (const { invitationId, ...role } of rows) {
      const list = out.get(invitationId) ?? [];
      list.push(role);
      out.set(invitationId, list);
    }
    return out;
  }

  private base() {
    return this.db
      .selectFrom('organizationInvitation')
      .innerJoin('organization', 'organization.id', 'organizationInvitation.organizationId')
      .selectAll('organizationInvitation')
      .select('organization.name as organizationName');
  }
}

const pendingNow = sql<boolean>`organization_invitation.status = 'pending' AND organization_invitation.expires_at > now()`;
