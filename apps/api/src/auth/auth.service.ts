import type { FastifyBaseLogger } from 'fastify';
import { Errors } from '../errors.js';
import type { AuthRepository } from '../repositories/auth.repository.js';
import { hashApiKey, PERMISSIONS, type Permission } from './api-key-format.js';
import { hasPermission, type AuthRequirement, type Principal } from './principal.js';

export class AuthService {
  /** When this process last refreshed each key's lastUsedAt; saves a write per request on hot keys. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly repo: AuthRepository,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Resolves a bearer token: user API keys first (by SHA-256), then runner registration tokens. */
  async resolve(authorization: string | undefined): Promise<Principal> {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!match) throw Errors.unauthorized('Unauthorized');
    const token = match[1]!;
    const keyHash = hashApiKey(token);
    const key = await this.repo.findKeyByHash(keyHash);
    if (key) {
      if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) throw Errors.unauthorized('API key has expired');
      const now = Date.now();
      if ((this.touched.get(keyHash) ?? 0) < now - 10_000) {
        if (this.touched.size > 10_000) this.touched.clear();
        this.touched.set(keyHash, now);
        this.repo.touchKey(keyHash).catch((err: unknown) => this.log.warn({ err }, 'could not refresh api key lastUsedAt'));
      }
      const permissions = new Set(key.permissions as Permission[]);
      return {
        kind: 'user',
        userId: key.userId,
        organizationId: key.organizationId,
        // Admin powers (admin routes, other organizations' resources) need a key that holds every permission: a key
        // narrowed by an admin is a plain key of its organization, so it can neither undo its narrowing (minting keys
        // or users) nor reach past it through another route.
        isAdmin: key.role === 'admin' && PERMISSIONS.every((perm) => permissions.has(perm)),
        permissions,
        keyName: key.name,
        keyHash,
      };
    }
    // Runner tokens are stored as the same SHA-256 the key lookup computed.
    const runner = await this.repo.findRunnerIdByTokenHash(keyHash);
    if (runner) return { kind: 'runner', runnerId: runner.id };
    throw Errors.unauthorized('Invalid API key');
  }

  /** Applies a route's requirement; throws the envelope-ready error when the caller does not qualify. */
  check(principal: Principal, requirement: AuthRequirement, permission: Permission | undefined): void {
    switch (requirement) {
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
      throw Errors.forbidden();
    }
  }
}
