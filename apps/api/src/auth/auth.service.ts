import type { FastifyBaseLogger } from 'fastify';
import { Errors } from '../errors.js';
import type { AuthRepository, KeyLookup } from '../repositories/auth.repository.js';
import type { CredentialCache } from './credential-cache.js';
import { WARM_POOL_ORGANIZATION_ID } from '../repositories/warm-pool.repository.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { hashApiKey, PERMISSIONS, type Permission } from './api-key-format.js';
import { looksLikeJwt, OidcVerifier, type OidcIdentity, type OidcSettings } from './oidc.js';
import { hasPermission, type AuthRequirement, type Principal, type UserPrincipal } from './principal.js';

/** Where a JWT caller's organization comes from besides the token (API keys carry their own). */
export interface OrganizationSelection {
  /** `X-Daytona-Organization-ID` as received (the SDK sends it on every request in JWT mode). */
  header?: string | string[] | undefined;
  /** The route's `:organizationId`, which wins over the header as in the reference. */
  param?: string | undefined;
}

/** Creates a user the first time its token is seen (services/user.service.ts). */
export interface OidcUserProvisioner {
  provisionFromOidc(id: OidcIdentity): Promise<{ id: string; email: string; role: 'admin' | 'user' }>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The 403 for a known user outside the requested organization; `actor` lets the audit log name who tried (audit/hooks.ts). */
function refusedUser(user: { id: string; email: string }) {
  return Object.assign(Errors.forbidden(), { actor: { userId: user.id, email: user.email } });
}

/** Compares digests, so neither the content nor the length of the secret leaks through timing. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** What a token's hash resolved to. Unknown tokens are never cached: each costs its lookup. */
export type ResolvedCredential = { kind: 'key'; key: KeyLookup } | { kind: 'runner'; runnerId: string };

export class AuthService {
  /** When this process last refreshed each key's lastUsedAt; saves a write per request on hot keys. */
  private readonly touched = new Map<string, number>();
  private readonly oidc: OidcVerifier | undefined;

  constructor(
    private readonly repo: AuthRepository,
    private readonly log: FastifyBaseLogger,
    private readonly users?: OidcUserProvisioner,
    oidc?: OidcSettings,
    private readonly sshGatewayToken?: string,
    private readonly cache?: CredentialCache<ResolvedCredential>,
  ) {
    this.oidc = oidc ? new OidcVerifier(oidc) : undefined;
  }

  /**
   * Resolves a bearer token. A JWT is tried first when OIDC is configured (and must verify: a token that looks like a
   * JWT and fails is 401 with the reason); then user API keys (by SHA-256), then runner registration tokens.
   */
  async resolve(authorization: string | undefined, org: OrganizationSelection = {}): Promise<Principal> {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!match) throw Errors.unauthorized('Unauthorized');
    const token = match[1]!;
    if (this.oidc && looksLikeJwt(token)) return this.resolveJwt(await this.oidc.verify(token), org);
    if (this.sshGatewayToken && sameSecret(token, this.sshGatewayToken)) return { kind: 'ssh-gateway' };
    const keyHash = hashApiKey(token);
    const found = await this.lookup(keyHash);
    if (found?.kind === 'key') {
      const key = found.key;
      if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) throw Errors.unauthorized('API key has expired');
      // A key outlives nothing: once its user left the key's organization it no longer authenticates.
      if (!key.orgRole) throw Errors.unauthorized('Invalid API key');
      const now = Date.now();
      if ((this.touched.get(keyHash) ?? 0) < now - 10_000) {
        if (this.touched.size > 10_000) this.touched.clear();
        this.touched.set(keyHash, now);
        this.repo.touchKey(keyHash).catch((err: unknown) => this.log.warn({ err }, 'could not refresh api key lastUsedAt'));
      }
      const permissions = new Set(key.permissions.filter((perm): perm is Permission => (PERMISSIONS as readonly string[]).includes(perm)));
      return {
        kind: 'user',
        userId: key.userId,
        email: key.email,
        // The key's organization; X-Daytona-Organization-ID is ignored for keys, as in the reference.
        organizationId: key.organizationId,
        // Admin powers (admin routes, other organizations' resources) need a key that holds every permission: a key
        // narrowed by an admin is a plain key of its organization, so it can neither undo its narrowing (minting keys
        // or users) nor reach past it through another route.
        isAdmin: key.role === 'admin' && PERMISSIONS.every((perm) => permissions.has(perm)),
        // An owner's key too is limited to the key's own permissions.
        permissions,
        via: 'api-key',
        orgRole: key.orgRole,
        keyName: key.name,
        keyHash,
      };
    }
    if (found?.kind === 'runner') return { kind: 'runner', runnerId: found.runnerId };
    throw Errors.unauthorized('Invalid API key');
  }

  /**
   * A user key first, then a runner token (stored as the same SHA-256). Only keys are cached: runners call a few times
   * a second at most, and their rows change with every health report, which would keep emptying the cache.
   */
  private async lookup(keyHash: string): Promise<ResolvedCredential | undefined> {
    const cached = this.cache?.get(keyHash);
    if (cached) return cached;
    const generation = this.cache?.snapshot() ?? 0;
    const key = await this.repo.findKeyByHash(keyHash);
    if (key) {
      const found: ResolvedCredential = { kind: 'key', key };
      this.cache?.set(keyHash, found, generation);
      return found;
    }
    const runner = await this.repo.findRunnerIdByTokenHash(keyHash);
    return runner ? { kind: 'runner', runnerId: runner.id } : undefined;
  }

  /** Forgets every cached credential: called by writes this process serves to keys, members, roles and users. */
  forgetCredentials(): void {
    this.cache?.invalidate();
  }

  /** Applies a route's requirement; throws the envelope-ready error when the caller does not qualify. */
  check(principal: Principal, requirement: AuthRequirement, permission: Permission | undefined): void {
    // The gateway's credential opens its own route and nothing else; no other caller opens that route.
    if ((principal.kind === 'ssh-gateway') !== (requirement === 'ssh-gateway')) throw Errors.forbidden();
    switch (requirement) {
      case 'ssh-gateway':
        return;
      case 'runner':
        if (principal.kind !== 'runner') throw Errors.forbidden();
        return;
      case 'admin':
        if (principal.kind !== 'user' || !principal.isAdmin) throw Errors.forbidden();
        return;
      case 'user':
        if (principal.kind !== 'user') throw Errors.forbidden();
        break;
      case 'user-or-runner':
        if (principal.kind === 'runner') return;
        break;
      case 'none':
        return;
    }
    if (permission && principal.kind === 'user' && !hasPermission(principal, permission)) {
      throw Errors.forbidden(`Forbidden: missing permission ${permission}`);
    }
  }

  /** A verified OIDC identity: provisioned on first sight, then placed in the organization the request names. */
  private async resolveJwt(id: OidcIdentity, org: OrganizationSelection): Promise<UserPrincipal> {
    if (!this.users) throw Errors.unauthorized('Invalid token: OIDC users cannot be provisioned');
    const user = await this.users.provisionFromOidc(id);
    const isAdmin = user.role === 'admin';
    const header = Array.isArray(org.header) ? org.header[0] : org.header;
    const requested = org.param ?? (header ? header.trim() : undefined);
    let organizationId: string | undefined;
    if (requested) {
      // Unknown, malformed and foreign organizations answer alike, so the answer reveals nothing about existence.
      // The warm pool's placeholder organization is no one's, not even an admin's: its sandboxes are not yet anyone's.
      if (!UUID.test(requested) || requested === WARM_POOL_ORGANIZATION_ID) throw refusedUser(user);
      organizationId = requested.toLowerCase();
    } else {
      organizationId = await this.repo.findPersonalOrganizationId(user.id);
      if (!organizationId) throw Errors.forbidden('Organization ID missing from the request: send X-Daytona-Organization-ID');
    }
    const membership = await this.repo.findMembership(organizationId, user.id);
    if (!membership) {
      if (!isAdmin || !(await this.repo.organizationExists(organizationId))) throw refusedUser(user);
    }
    const permissions: ReadonlySet<Permission> =
      isAdmin || membership?.role === 'owner'
        ? new Set(PERMISSIONS)
        : new Set(membership!.rolePermissions.filter((perm): perm is Permission => (PERMISSIONS as readonly string[]).includes(perm)));
    return {
      kind: 'user',
      userId: user.id,
      email: user.email,
      organizationId,
      isAdmin,
      permissions,
      via: 'jwt',
      orgRole: membership?.role ?? null,
    };
  }
}
