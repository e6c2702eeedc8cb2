import type { Static } from '@sinclair/typebox';
import type { Db } from '../db/database.js';
import type { Organization, Snapshot, User } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { PERMISSIONS, generateApiKey, hashApiKey } from '../auth/api-key-format.js';
import { OrganizationRepository, SnapshotRepository } from '../repositories/organization.repository.js';
import { ReadinessRepository } from '../repositories/readiness.repository.js';
import { SandboxRepository } from '../repositories/sandbox.repository.js';
import { UserRepository } from '../repositories/user.repository.js';
import type {
  CreatedUserDto,
  CreateUserBody,
  OrganizationDto,
  OrganizationUsageOverview,
  SnapshotDto,
  UpdateOrganizationQuota,
  UserDto,
} from '../schemas.js';

export class OrganizationService {
  private readonly orgs: OrganizationRepository;
  private readonly sandboxes: SandboxRepository;
  private readonly snapshots: SnapshotRepository;
  private readonly users: UserRepository;
  private readonly database: ReadinessRepository;

  constructor(db: Db) {
    this.orgs = new OrganizationRepository(db);
    this.sandboxes = new SandboxRepository(db);
    this.snapshots = new SnapshotRepository(db);
    this.users = new UserRepository(db);
    this.database = new ReadinessRepository(db);
  }

  async list(p: UserPrincipal): Promise<Static<typeof OrganizationDto>[]> {
    return (await this.orgs.listForUser(p.userId)).map(toOrganizationDto);
  }

  /** Members (and admins) see an organization; anyone else gets 404 so ids do not leak. */
  async get(p: UserPrincipal, id: string): Promise<Static<typeof OrganizationDto>> {
    return toOrganizationDto(await this.accessible(p, id));
  }

  async usage(p: UserPrincipal, id: string): Promise<Static<typeof OrganizationUsageOverview>> {
    const org = await this.accessible(p, id);
    const used = await this.sandboxes.usage(org.id);
    const { snapshots } = await this.orgs.counts(org.id);
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
      currentVolumeUsage: 0,
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

  private async accessible(p: UserPrincipal, id: string): Promise<Organization> {
    const org = await this.orgs.findById(id);
    if (!org || (!p.isAdmin && !(await this.orgs.isMember(org.id, p.userId)))) throw Errors.notFound(`Organization with ID ${id} not found`);
    return org;
  }

  /* ---- users ---- */

  async me(p: UserPrincipal): Promise<Static<typeof UserDto>> {
    const u = await this.users.findById(p.userId);
    if (!u) throw Errors.unauthorized();
    return toUserDto(u);
  }

  async getUser(id: string): Promise<Static<typeof UserDto>> {
    const u = await this.users.findById(id);
    if (!u) throw Errors.notFound(`User with ID ${id} not found`);
    return toUserDto(u);
  }

  async listUsers(): Promise<Static<typeof UserDto>[]> {
    return (await this.users.list()).map(toUserDto);
  }

  /**
   * Admin-only: creates a user with a personal organization. Shoal extension: with `createApiKey: true` the answer
   * carries a full-permission API key of that organization, shown once (the e2e tenancy tests need a second tenant).
   */
  async createUser(body: CreateUserBody): Promise<Static<typeof CreatedUserDto>> {
    const id = body.id ?? crypto.randomUUID();
    const quota: Record<string, number> = {};
    for (const [k, v] of Object.entries(body.personalOrganizationQuota ?? {})) if (typeof v === 'number') quota[k] = v;
    const apiKey = body.createApiKey ? generateApiKey() : undefined;
    const created = await this.users.createWithPersonalOrganization({
      id,
      name: body.name,
      email: body.email ?? '',
      role: (body.role ?? 'user') as 'admin' | 'user',
      quota,
      ...(apiKey ? { apiKey: { keyHash: hashApiKey(apiKey), keySuffix: apiKey.slice(-3), permissions: [...PERMISSIONS] } } : {}),
    });
    if (!created) throw Errors.conflict(`User with ID ${id} already exists`);
    return { ...toUserDto(created.user), organizationId: created.organization.id, ...(apiKey ? { apiKey } : {}) };
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
    ...(o.suspendedAt ? { suspendedAt: o.suspendedAt.toISOString() } : {}),
    ...(o.suspensionReason ? { suspensionReason: o.suspensionReason } : {}),
    ...(o.suspendedUntil ? { suspendedUntil: o.suspendedUntil.toISOString() } : {}),
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

function toUserDto(u: User): Static<typeof UserDto> {
  return { id: u.id, name: u.name, email: u.email, publicKeys: [], createdAt: u.createdAt.toISOString() };
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
