import { randomUUID } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import { generateApiKey, hashApiKey, PERMISSIONS } from '../auth/api-key-format.js';
import type { OidcIdentity } from '../auth/oidc.js';
import type { UserPrincipal } from '../auth/principal.js';
import type { UserKeyPairs } from '../auth/user-key-pair.js';
import type { User } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserRepository } from '../repositories/user.repository.js';
import type { CreatedUserDto, CreateUserBody, UserDto } from '../schemas.js';

/**
 * The users operations. Account providers, linked accounts and SMS MFA are run by the reference through its identity
 * provider's management API; Shoal has no such management connection, so they answer as the reference does when that
 * API is not enabled (404), after the checks the reference makes before it.
 */
export class UserService {
  constructor(
    private readonly users: UserRepository,
    private readonly keyPairs: UserKeyPairs,
  ) {}

  /**
   * The user a verified OIDC token names: created with a personal organization (default quota) on first sight, then
   * completed from later tokens (verified address, a name or e-mail that was missing), as the reference does.
   * Concurrent first requests are safe: the insert of the user row decides, the loser reads the winner's row.
   */
  async provisionFromOidc(id: OidcIdentity): Promise<User> {
    let user = await this.users.findById(id.sub);
    if (!user) {
      const created = await this.users.createWithPersonalOrganization({
        id: id.sub,
        name: id.name,
        email: id.email,
        emailVerified: id.emailVerified,
        role: 'user',
        quota: {},
        keyPair: this.keyPairs.generate(id.sub),
      });
      user = created?.user ?? (await this.users.findById(id.sub));
      if (!user) throw Errors.unauthorized('Invalid token: the user could not be provisioned');
      return user;
    }
    const patch: { name?: string; email?: string; emailVerified?: boolean } = {};
    if (!user.emailVerified && id.emailVerified) patch.emailVerified = true;
    if (user.name === 'Unknown' && id.name !== 'Unknown') patch.name = id.name;
    if (!user.email && id.email) patch.email = id.email;
    return Object.keys(patch).length ? ((await this.users.updateProfile(user.id, patch)) ?? user) : user;
  }

  async me(p: UserPrincipal): Promise<Static<typeof UserDto>> {
    const u = await this.users.findById(p.userId);
    if (!u) throw Errors.notFound(`User with ID ${p.userId} not found`);
    return toUserDto(u);
  }

  async get(id: string): Promise<Static<typeof UserDto>> {
    const u = await this.users.findById(id);
    if (!u) throw Errors.notFound(`User with ID ${id} not found`);
    return toUserDto(u);
  }

  async list(): Promise<Static<typeof UserDto>[]> {
    return (await this.users.list()).map(toUserDto);
  }

  /**
   * Admin-only: a user with a personal organization and a key pair. Shoal extension: with `createApiKey: true` the
   * answer carries a full-permission API key of that organization, shown once (the e2e tenancy tests need a second
   * tenant).
   */
  async create(body: CreateUserBody): Promise<Static<typeof CreatedUserDto>> {
    const id = body.id ?? randomUUID();
    const quota: Record<string, number> = {};
    for (const [k, v] of Object.entries(body.personalOrganizationQuota ?? {})) if (typeof v === 'number') quota[k] = v;
    const apiKey = body.createApiKey ? generateApiKey() : undefined;
    const created = await this.users.createWithPersonalOrganization({
      id,
      name: body.name,
      email: body.email ?? '',
      role: (body.role ?? 'user') as 'admin' | 'user',
      ...(body.emailVerified !== undefined ? { emailVerified: body.emailVerified } : {}),
      quota,
      keyPair: this.keyPairs.generate(id),
      ...(apiKey ? { apiKey: { keyHash: hashApiKey(apiKey), keySuffix: apiKey.slice(-3), permissions: [...PERMISSIONS] } } : {}),
    });
    if (!created) throw Errors.conflict(`User with ID ${id} already exists`);
    return { ...toUserDto(created.user), organizationId: created.organization.id, ...(apiKey ? { apiKey } : {}) };
  }

  /**
   * Admin-only: replaces the user's SSH key pair. The answer shows the new public key; the private key stays sealed in
   * the database (the reference returned it to the admin, which hands one user's private key to someone else).
   */
  async regenerateKeyPair(id: string): Promise<Static<typeof UserDto>> {
    const u = await this.users.setKeyPair(id, this.keyPairs.generate(id));
    if (!u) throw Errors.notFound(`User with ID ${id} not found`);
    return toUserDto(u);
  }

  /** No identity-provider management connection: the reference's answer when its management API is off. */
  accountProviders(): never {
    throw Errors.notFound('Not Found');
  }

  async linkAccount(p: UserPrincipal, body: { provider: string; userId: string }): Promise<never> {
    const me = await this.users.findById(p.userId);
    if (!me?.emailVerified) throw Errors.forbidden('Please verify your email address');
    if (await this.users.findById(`${body.provider}|${body.userId}`)) throw Errors.badRequest('This account is already associated with another user');
    throw Errors.notFound('Not Found');
  }

  unlinkAccount(): never {
    throw Errors.notFound('Not Found');
  }

  enrollInSmsMfa(): never {
    throw Errors.notFound('Not Found');
  }
}

export function toUserDto(u: User): Static<typeof UserDto> {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    publicKeys: u.keyPair ? [{ key: u.keyPair.publicKey, name: 'key-pair' }] : [],
    createdAt: u.createdAt.toISOString(),
  };
}
