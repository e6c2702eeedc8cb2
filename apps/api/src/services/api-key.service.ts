import type { Static } from '@sinclair/typebox';
import type { ApiKey } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { apiKeyRecord, maskApiKey, PERMISSIONS, type Permission } from '../auth/api-key-format.js';
import { memberPermissions } from './organization-access.js';
import type { ApiKeyRepository } from '../repositories/api-key.repository.js';
import type { OrganizationRepository } from '../repositories/organization.repository.js';
import type { ApiKeyList, ApiKeyResponse, CreateApiKeyBody, CurrentApiKey } from '../schemas.js';

export class ApiKeyService {
  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly orgs: OrganizationRepository,
  ) {}

  async create(p: UserPrincipal, body: CreateApiKeyBody): Promise<Static<typeof ApiKeyResponse>> {
    // A key can never carry more than the key that created it, also for admins: otherwise a narrowed admin key (the
    // rule in auth/principal.ts) could mint itself a full one. Found by the e2e tenancy suite.
    // Nor more than the caller holds in the organization (reference §7.2): owners and admins hold every permission,
    // a member only what its assigned roles grant, read here from the database so a principal built before a role
    // change cannot outlive it.
    const held = await this.assignable(p);
    const missing = [...new Set(body.permissions)].filter((perm) => !p.permissions.has(perm as Permission) || !held.has(perm));
    if (missing.length) throw Errors.insufficientPermissions(missing);
    let expiresAt: Date | null = null;
    if (body.expiresAt) {
      expiresAt = new Date(body.expiresAt);
      if (Number.isNaN(expiresAt.getTime())) throw Errors.badRequest('expiresAt must be a valid date');
      if (expiresAt.getTime() <= Date.now()) throw Errors.badRequest('expiresAt must be in the future');
    }
    const { value, ...stored } = apiKeyRecord();
    const row = await this.keys.insert({
      organizationId: p.organizationId,
      userId: p.userId,
      name: body.name,
      ...stored,
      permissions: [...new Set(body.permissions)],
      expiresAt,
    });
    if (!row) throw Errors.conflict('API key with this name already exists');
    return { name: row.name, value, createdAt: row.createdAt.toISOString(), permissions: row.permissions, expiresAt: row.expiresAt?.toISOString() ?? null };
  }

  /** Owners and admins see every key of the organization; members only their own. */
  async list(p: UserPrincipal): Promise<Static<typeof ApiKeyList>[]> {
    const all = p.isAdmin || (await this.isOwner(p));
    return (await this.keys.list(p.organizationId, all ? undefined : p.userId)).map(toListDto);
  }

  async current(p: UserPrincipal): Promise<Static<typeof CurrentApiKey>> {
    if (!p.keyHash) throw Errors.forbidden('Authenticate with an API key to use this endpoint');
    const row = await this.keys.findByHash(p.keyHash);
    if (!row) throw Errors.notFound('API key not found');
    return { ...toListDto(row), organizationId: row.organizationId };
  }

  async get(p: UserPrincipal, name: string): Promise<Static<typeof ApiKeyList>> {
    const row = await this.keys.find(p.organizationId, p.userId, name);
    if (!row) throw Errors.notFound(`API key "${name}" not found`);
    return toListDto(row);
  }

  async remove(p: UserPrincipal, name: string): Promise<void> {
    if (!(await this.keys.delete(p.organizationId, p.userId, name))) throw Errors.notFound(`API key "${name}" not found`);
  }

  async removeForUser(p: UserPrincipal, userId: string, name: string): Promise<void> {
    if (userId !== p.userId && !p.isAdmin && !(await this.isOwner(p))) throw Errors.forbidden();
    if (!(await this.keys.delete(p.organizationId, userId, name))) throw Errors.notFound(`API key "${name}" not found`);
  }

  /** Organizations have owners besides their creator (invitations, role changes): the membership row decides. */
  private async isOwner(p: UserPrincipal): Promise<boolean> {
    return (await this.orgs.membership(p.organizationId, p.userId))?.role === 'owner';
  }

  /** Permissions the caller may put on a key of its organization; a non-member (only an admin gets here) holds all. */
  private async assignable(p: UserPrincipal): Promise<ReadonlySet<string>> {
    if (p.isAdmin) return new Set(PERMISSIONS);
    const m = await this.orgs.membership(p.organizationId, p.userId);
    return m ? memberPermissions(m) : new Set();
  }
}

function toListDto(k: ApiKey): Static<typeof ApiKeyList> {
  return {
    name: k.name,
    value: maskApiKey(k.keyPrefix, k.keySuffix),
    createdAt: k.createdAt.toISOString(),
    permissions: k.permissions,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    expiresAt: k.expiresAt?.toISOString() ?? null,
    userId: k.userId,
  };
}
