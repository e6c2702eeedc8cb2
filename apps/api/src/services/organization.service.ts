import type { Static } from '@sinclair/typebox';
import type { Db } from '../db/database.js';
import type { Organization, Snapshot } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { OrganizationRepository, SnapshotRepository } from '../repositories/organization.repository.js';
import { ReadinessRepository } from '../repositories/readiness.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import { UserRepository } from '../repositories/user.repository.js';
import { VolumeRepository } from '../repositories/volume.repository.js';
import { OrganizationAccess } from './organization-access.js';
import { OrganizationInvitationsService } from './organization-invitations.service.js';
import { OrganizationMembersService } from './organization-members.service.js';
import { OrganizationRolesService } from './organization-roles.service.js';
import type { OrganizationSuspension } from '../schemas-organizations.js';
import type {
  OrganizationDto,
  OrganizationUsageOverview,
  SnapshotDto,
  UpdateOrganizationQuota,
} from '../schemas.js';

/** The reference's limit on organizations one user creates (personal ones not counted). */
const MAX_CREATED_ORGANIZATIONS = 10;

export class OrganizationService {
  private readonly orgs: OrganizationRepository;
  private readonly sandboxes: SandboxRepository;
  private readonly snapshots: SnapshotRepository;
  private readonly users: UserRepository;
  private readonly database: ReadinessRepository;
  private readonly access: OrganizationAccess;
  private readonly volumes: VolumeRepository;
  readonly members: OrganizationMembersService;
  readonly roles: OrganizationRolesService;
  readonly invitations: OrganizationInvitationsService;

  constructor(db: Db) {
    this.orgs = new OrganizationRepository(db);
    this.access = new OrganizationAccess(this.orgs);
    this.members = new OrganizationMembersService(db, this.access);
    this.roles = new OrganizationRolesService(db, this.access);
    this.invitations = new OrganizationInvitationsService(db, this.access);
    this.sandboxes = new SandboxRepository(db);
    this.snapshots = new SnapshotRepository(db);
    this.users = new UserRepository(db);
    this.volumes = new VolumeRepository(db);
    this.database = new ReadinessRepository(db);
  }

  async list(p: UserPrincipal): Promise<Static<typeof OrganizationDto>[]> {
    return (await this.orgs.listForUser(p.userId)).map(toOrganizationDto);
  }

  /** Members (and admins) see an organization; anyone else gets 404 so ids do not leak. */
  async get(p: UserPrincipal, id: string): Promise<Static<typeof OrganizationDto>> {
    return toOrganizationDto((await this.access.member(p, id)).org);
  }

  /**
   * A non-personal organization owned by its creator. As in the reference, at most 10 per user and only for a
   * verified e-mail address. Shoal sends no verification mail: an address counts as verified when the admin vouched for
   * it (POST /users with emailVerified: true) or the OIDC issuer did (`email_verified`); the admin is not limited.
   */
  async create(p: UserPrincipal, name: string): Promise<Static<typeof OrganizationDto>> {
    const trimmed = name.trim();
    if (!trimmed) throw Errors.badRequest('name must not be empty');
    if (!p.isAdmin && !(await this.users.findById(p.userId))?.emailVerified) throw Errors.emailNotVerified();
    const org = await this.orgs.createWithOwner(trimmed, p.userId, p.isAdmin ? null : MAX_CREATED_ORGANIZATIONS);
    if (!org) throw Errors.organizationLimit(MAX_CREATED_ORGANIZATIONS);
    return toOrganizationDto(org);
  }

  /**
   * Owners delete a non-personal organization once nothing runs in it any more: deleting the rows of live sandboxes
   * or snapshots would leave their containers and images on the runners with no owner to clean them up.
   */
  async delete(p: UserPrincipal, id: string): Promise<void> {
    const { org } = await this.access.owner(p, id);
    if (org.personal) throw Errors.personalOrganizationDelete();
    const left = await this.orgs.remainingResources(org.id);
    if (left.sandboxes > 0 || left.snapshots > 0) throw Errors.organizationHasResources(left.sandboxes, left.snapshots);
    await this.orgs.delete(org.id);
  }

  async leave(p: UserPrincipal, id: string): Promise<void> {
    await this.members.leave(p, id);
  }

  /** Admin only (route). Creates of sandboxes and snapshots answer 403 with the reason until `until` or unsuspend. */
  async suspend(id: string, body: OrganizationSuspension | undefined): Promise<void> {
    let until: Date | null = null;
    if (body?.until) {
      until = new Date(body.until);
      if (Number.isNaN(until.getTime()) || until.getTime() <= Date.now()) throw Errors.badRequest('until must be a valid date in the future');
    }
    const ok = await this.orgs.suspend(id, {
      reason: body?.reason ?? '',
      until,
      gracePeriodHours: body?.suspensionCleanupGracePeriodHours ?? null,
    });
    if (!ok) throw Errors.organizationNotFound(id);
  }

  async unsuspend(id: string): Promise<void> {
    if (!(await this.orgs.unsuspend(id))) throw Errors.organizationNotFound(id);
  }

  /** Admin only (the reference also lets its proxy call it; Shoal's proxy is in-process). */
  async bySandboxId(sandboxId: string): Promise<Static<typeof OrganizationDto>> {
    const org = await this.orgs.findBySandboxId(sandboxId);
    if (!org) throw Errors.sandboxNotFound(sandboxId);
    return toOrganizationDto(org);
  }

  async usage(p: UserPrincipal, id: string): Promise<Static<typeof OrganizationUsageOverview>> {
    const { org } = await this.access.member(p, id);
    const used = await this.sandboxes.usage(org.id);
    const { snapshots } = await this.orgs.counts(org.id);
    const volumes = await this.volumes.countForQuota(org.id);
    return {
      totalCpuQuota: org.totalCpuQuota,
      totalMemoryQuota: org.totalMemoryQuota,
      totalDiskQuota: org.totalDiskQuota,
      currentCpuUsage: used.cpu,
      currentMemoryUsage: used.mem,
      currentDiskUsage: used.disk,
      totalSnapshotQuota: org.snapshotQuota,
      currentSnapshotUsage: snapshots,
      totalVolumeQuota: org.volumeQuota,
      currentVolumeUsage: volumes,
    };
  }

  async updateQuota(id: string, q: UpdateOrganizationQuota): Promise<Static<typeof OrganizationDto>> {
    const org = await this.orgs.updateQuota(id, q);
    if (!org) throw Errors.notFound(`Organization with ID ${id} not found`);
    return toOrganizationDto(org);
  }

  /** Read by the reconciler when it creates a sandbox on its runner; existing sandboxes keep their egress. */
  async setSandboxLimitedNetworkEgress(id: string, limited: boolean): Promise<void> {
    if (!(await this.orgs.setSandboxLimitedNetworkEgress(id, limited))) throw Errors.notFound(`Organization with ID ${id} not found`);
  }

  async healthCheck(): Promise<void> {
    await this.database.ping();
  }
}

export function toOrganizationDto(o: Organization): Static<typeof OrganizationDto> {
  return {
    id: o.id,
    name: o.name,
    createdBy: o.createdBy,
    personal: o.personal,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
    suspended: o.suspended,
    suspendedAt: o.suspendedAt?.toISOString() ?? null,
    suspensionReason: o.suspensionReason ?? null,
    suspendedUntil: o.suspendedUntil?.toISOString() ?? null,
    suspensionCleanupGracePeriodHours: o.suspensionCleanupGracePeriodHours,
    totalCpuQuota: o.totalCpuQuota,
    totalMemoryQuota: o.totalMemoryQuota,
    totalDiskQuota: o.totalDiskQuota,
    maxCpuPerSandbox: o.maxCpuPerSandbox,
    maxMemoryPerSandbox: o.maxMemoryPerSandbox,
    maxDiskPerSandbox: o.maxDiskPerSandbox,
    sandboxLimitedNetworkEgress: o.sandboxLimitedNetworkEgress,
  };
}

/**
 * General snapshots belong to the admin's organization but are readable by everyone: their owner's id is shown only
 * to that organization (and admins), so other tenants never learn another organization's id.
 */
export function toSnapshotDto(s: Snapshot, viewer?: UserPrincipal): Static<typeof SnapshotDto> {
  const showOwner = !viewer || viewer.isAdmin || viewer.organizationId === s.organizationId;
  return {
    id: s.id,
    ...(s.organizationId && showOwner ? { organizationId: s.organizationId } : {}),
    general: s.general,
    name: s.name,
    imageName: s.imageName,
    state: s.state,
    size: s.size,
    entrypoint: s.entrypoint,
    cpu: s.cpu,
    gpu: s.gpu,
    mem: s.mem,
    disk: s.disk,
    errorReason: s.errorReason,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    lastUsedAt: s.lastUsedAt?.toISOString() ?? null,
  };
}
