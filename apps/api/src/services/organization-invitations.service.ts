import type { Static } from '@sinclair/typebox';
import type { UserPrincipal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { Errors } from '../errors.js';
import { OrganizationInvitationRepository, type InvitationRow } from '../repositories/organization-invitation.repository.js';
import { OrganizationMemberRepository } from '../repositories/organization-member.repository.js';
import { OrganizationRoleRepository } from '../repositories/organization-role.repository.js';
import type { CreateOrganizationInvitation, OrganizationInvitationDto, UpdateOrganizationInvitation } from '../schemas-organizations.js';
import type { OrganizationAccess } from './organization-access.js';
import { toInvitationDto } from './organization-dto.js';

/** The reference assigns the Developer role when an invitation names none. */
const DEVELOPER_ROLE_ID = '00000000-0000-0000-0000-000000000001';
/** One address: no spaces, one @, a dotted domain; enough to refuse typos and injection, not an RFC 5322 parser. */
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/**
 * Invitations: owners create, list, update and cancel them; the invitee (the user whose e-mail matches,
 * case-insensitively) lists, counts, accepts or declines them. Only a verified address receives invitations, so an
 * identity provider that lets users type any e-mail cannot be used to take someone else's invitation.
 */
export class OrganizationInvitationsService {
  constructor(
    private readonly db: Db,
    private readonly access: OrganizationAccess,
  ) {}

  async create(p: UserPrincipal, organizationId: string, body: CreateOrganizationInvitation): Promise<Static<typeof OrganizationInvitationDto>> {
    const { org } = await this.access.owner(p, organizationId);
    const email = normalizeEmail(body.email);
    if (org.personal) throw Errors.personalOrganizationInvite();
    const expiresAt = futureDate(body.expiresAt);
    const roleIds = [...new Set((body.assignedRoleIds ?? [DEVELOPER_ROLE_ID]).map((id) => id.toLowerCase()))];
    const inviter = await new OrganizationMemberRepository(this.db).userEmail(p.userId);
    const id = await this.db.transaction().execute(async (trx) => {
      const unknown = await new OrganizationRoleRepository(trx).unassignable(org.id, roleIds);
      if (unknown.length) throw Errors.organizationRoleNotFound(unknown[0]!);
      if (await new OrganizationMemberRepository(trx).hasMemberWithEmail(org.id, email)) throw Errors.alreadyMember(email);
      const invitations = new OrganizationInvitationRepository(trx);
      await invitations.retireExpired(org.id, email);
      const created = await invitations.insert({ organizationId: org.id, email, invitedBy: inviter?.email || p.userId, role: body.role ?? 'member', expiresAt });
      if (!created) throw Errors.invitationDuplicate(email);
      await invitations.replaceRoles(created, roleIds);
      return created;
    });
    return this.dto((await new OrganizationInvitationRepository(this.db).find(id))!);
  }

  async listForOrganization(p: UserPrincipal, organizationId: string): Promise<Static<typeof OrganizationInvitationDto>[]> {
    const { org } = await this.access.owner(p, organizationId);
    return this.dtos(await new OrganizationInvitationRepository(this.db).listPendingForOrganization(org.id));
  }

  async update(p: UserPrincipal, organizationId: string, invitationId: string, body: UpdateOrganizationInvitation): Promise<Static<typeof OrganizationInvitationDto>> {
    const { org } = await this.access.owner(p, organizationId);
    const expiresAt = futureDate(body.expiresAt);
    const roleIds = [...new Set(body.assignedRoleIds.map((id) => id.toLowerCase()))];
    await this.db.transaction().execute(async (trx) => {
      const invitations = new OrganizationInvitationRepository(trx);
      const inv = await invitations.find(invitationId, { forUpdate: true });
      if (!inv || inv.organizationId !== org.id) throw Errors.invitationNotFound(invitationId);
      assertOpen(inv);
      const unknown = await new OrganizationRoleRepository(trx).unassignable(org.id, roleIds);
      if (unknown.length) throw Errors.organizationRoleNotFound(unknown[0]!);
      await invitations.update(inv.id, { role: body.role, ...(expiresAt ? { expiresAt } : {}) });
      await invitations.replaceRoles(inv.id, roleIds);
    });
    return this.dto((await new OrganizationInvitationRepository(this.db).find(invitationId))!);
  }

  async cancel(p: UserPrincipal, organizationId: string, invitationId: string): Promise<void> {
    const { org } = await this.access.owner(p, organizationId);
    await this.db.transaction().execute(async (trx) => {
      const invitations = new OrganizationInvitationRepository(trx);
      const inv = await invitations.find(invitationId, { forUpdate: true });
      if (!inv || inv.organizationId !== org.id) throw Errors.invitationNotFound(invitationId);
      if (inv.status !== 'pending') throw Errors.invitationNotPending(inv.status);
      await invitations.setStatus(inv.id, 'cancelled');
    });
  }

  /* ---- the invitee's side ---- */

  async listMine(p: UserPrincipal): Promise<Static<typeof OrganizationInvitationDto>[]> {
    const email = await this.verifiedEmail(p);
    return email ? this.dtos(await new OrganizationInvitationRepository(this.db).listPendingForEmail(email)) : [];
  }

  async countMine(p: UserPrincipal): Promise<number> {
    const email = await this.verifiedEmail(p);
    return email ? new OrganizationInvitationRepository(this.db).countPendingForEmail(email) : 0;
  }

  /** Membership with the invitation's role and assigned roles, and the invitation marked accepted, in one transaction. */
  async accept(p: UserPrincipal, invitationId: string): Promise<void> {
    const email = await this.verifiedEmail(p);
    await this.db.transaction().execute(async (trx) => {
      const invitations = new OrganizationInvitationRepository(trx);
      const inv = await this.mine(invitations, email, invitationId);
      const members = new OrganizationMemberRepository(trx);
      if (!(await members.add(inv.organizationId, p.userId, inv.role))) throw Errors.alreadyMember(inv.email);
      const roles = (await invitations.roles([inv.id])).get(inv.id) ?? [];
      await members.replaceAssignedRoles(inv.organizationId, p.userId, roles.map((r) => r.id));
      await invitations.setStatus(inv.id, 'accepted');
    });
  }

  async decline(p: UserPrincipal, invitationId: string): Promise<void> {
    const email = await this.verifiedEmail(p);
    await this.db.transaction().execute(async (trx) => {
      const invitations = new OrganizationInvitationRepository(trx);
      const inv = await this.mine(invitations, email, invitationId);
      await invitations.setStatus(inv.id, 'declined');
    });
  }

  /** Someone else's invitation is 404 like an unknown one; the caller's own but closed or expired one is 400. */
  private async mine(invitations: OrganizationInvitationRepository, email: string | null, invitationId: string): Promise<InvitationRow> {
    const inv = await invitations.find(invitationId, { forUpdate: true });
    if (!inv || !email || inv.email !== email) throw Errors.invitationNotFound(invitationId);
    assertOpen(inv);
    return inv;
  }

  /** The caller's lower-case address when verified (see organization.service.ts on what counts), else null. */
  private async verifiedEmail(p: UserPrincipal): Promise<string | null> {
    const u = await new OrganizationMemberRepository(this.db).userEmail(p.userId);
    if (!u || !u.emailVerified || !u.email) return null;
    return u.email.trim().toLowerCase();
  }

  private async dto(inv: InvitationRow): Promise<Static<typeof OrganizationInvitationDto>> {
    return (await this.dtos([inv]))[0]!;
  }

  private async dtos(rows: InvitationRow[]): Promise<Static<typeof OrganizationInvitationDto>[]> {
    const roles = await new OrganizationInvitationRepository(this.db).roles(rows.map((r) => r.id));
    return rows.map((r) => toInvitationDto(r, roles.get(r.id) ?? []));
  }
}

export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email)) throw Errors.invalidEmail(raw);
  return email;
}

function futureDate(raw: string | null | undefined): Date | null {
  if (raw === undefined || raw === null) return null;
  const d = new Date(raw);
  if (Number.isNaN(d.getTime()) || d.getTime() <= Date.now()) throw Errors.expiresAtInvalid();
  return d;
}

function assertOpen(inv: InvitationRow): void {
  if (inv.status !== 'pending') throw Errors.invitationNotPending(inv.status);
  if (inv.expiresAt.getTime() <= Date.now()) throw Errors.invitationExpired();
}
