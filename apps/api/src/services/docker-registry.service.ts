import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { RegistryCredentials } from '@shoal/contracts';
import type { UserPrincipal } from '../auth/principal.js';
import type { DockerRegistry } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { DockerRegistryRepository } from '../repositories/docker-registry.repository.js';
import { internalRegistryProject, type RegistryCredentialsLookup } from './registry-credentials.js';
import type { RegistrySecrets } from './registry-secrets.js';

export const REGISTRY_TYPES = ['internal', 'organization', 'transient', 'backup'] as const;
export type RegistryType = (typeof REGISTRY_TYPES)[number];

/** The reference caps user-defined registries per organization. */
const MAX_REGISTRIES_PER_ORG = 100;
/** Lifetime of `registry-push-access` credentials (the reference's robot accounts live 1 h). */
export const PUSH_ACCESS_TTL_MS = 3600_000;
/** Usernames of the logins a build gets (buildAccess): the token server also lets them read shared images. */
export const BUILD_LOGIN_PREFIX = 'build-';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DockerRegistryDto {
  id: string;
  name: string;
  url: string;
  username: string;
  project: string;
  registryType: RegistryType;
  createdAt: string;
  updatedAt: string;
}

export interface RegistryPushAccessDto {
  username: string;
  secret: string;
  registryUrl: string;
  registryId: string;
  project: string;
  expiresAt: string;
}

export interface CreateDockerRegistryInput {
  name: string;
  url: string;
  username: string;
  password: string;
  project?: string;
  registryType?: RegistryType;
  isDefault?: boolean;
}

export interface UpdateDockerRegistryInput {
  name?: string;
  url?: string;
  username?: string;
  password?: string;
  project?: string;
}

export function hashPushSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class DockerRegistryService implements RegistryCredentialsLookup {
  constructor(
    private readonly repo: DockerRegistryRepository,
    private readonly secrets: RegistrySecrets,
    /** host:port of Shoal's internal registry. */
    private readonly internalRegistry: string,
  ) {}

  async create(p: UserPrincipal, body: CreateDockerRegistryInput): Promise<DockerRegistryDto> {
    const registryType = body.registryType ?? 'organization';
    // Only admins manage Shoal's own registries or choose defaults (reference: non-admins create `organization` only).
    if (!p.isAdmin && (registryType !== 'organization' || body.isDefault)) throw Errors.forbidden();
    if ((await this.repo.countForOrganization(p.organizationId)) >= MAX_REGISTRIES_PER_ORG) throw Errors.dockerRegistryLimit(MAX_REGISTRIES_PER_ORG);
    const id = randomUUID();
    const row = await this.repo.insert({
      id,
      organizationId: p.organizationId,
      name: body.name.trim(),
      url: normalizeRegistryUrl(body.url),
      username: body.username,
      passwordCiphertext: this.secrets.encrypt(body.password, secretOwner(p.organizationId, id)),
      project: body.project ?? '',
      registryType,
      isDefault: false,
    });
    return toDto(body.isDefault ? await this.repo.setDefault(row) : row);
  }

  async list(p: UserPrincipal): Promise<DockerRegistryDto[]> {
    return (await this.repo.listForOrganization(p.organizationId)).map(toDto);
  }

  async get(p: UserPrincipal, id: string): Promise<DockerRegistryDto> {
    return toDto(await this.visible(p, id));
  }

  async update(p: UserPrincipal, id: string, body: UpdateDockerRegistryInput): Promise<DockerRegistryDto> {
    const row = await this.visible(p, id);
    if (!p.isAdmin && row.registryType !== 'organization') throw Errors.forbidden();
    const updated = await this.repo.update(id, {
      ...(body.name !== undefined ? { name: body.name.trim() } : {}),
      ...(body.url !== undefined ? { url: normalizeRegistryUrl(body.url) } : {}),
      ...(body.username !== undefined ? { username: body.username } : {}),
      ...(body.password !== undefined ? { passwordCiphertext: this.secrets.encrypt(body.password, secretOwner(row.organizationId, id)) } : {}),
      ...(body.project !== undefined ? { project: body.project } : {}),
    });
    if (!updated) throw Errors.dockerRegistryNotFound(id);
    return toDto(updated);
  }

  async remove(p: UserPrincipal, id: string): Promise<void> {
    const row = await this.visible(p, id);
    if (!p.isAdmin && row.registryType !== 'organization') throw Errors.forbidden();
    if (!(await this.repo.delete(id))) throw Errors.dockerRegistryNotFound(id);
  }

  async setDefault(p: UserPrincipal, id: string): Promise<DockerRegistryDto> {
    return toDto(await this.repo.setDefault(await this.visible(p, id)));
  }

  /**
   * Short-lived credentials that may push to and pull from the organization's project of the internal registry, and
   * nothing else (the token server, registry-token.service.ts, enforces it). Only the secret's hash is stored.
   */
  async pushAccess(p: UserPrincipal): Promise<RegistryPushAccessDto> {
    const internal = await this.repo.ensureInternal(this.internalRegistry);
    const username = `push-${randomBytes(8).toString('hex')}`;
    const secret = randomBytes(32).toString('base64url');
    const project = internalRegistryProject(p.organizationId);
    const expiresAt = new Date(Date.now() + PUSH_ACCESS_TTL_MS);
    await this.repo.insertPushAccess({ username, secretHash: hashPushSecret(secret), organizationId: p.organizationId, project, expiresAt });
    return { username, secret, registryUrl: this.internalRegistry, registryId: internal.id, project, expiresAt: expiresAt.toISOString() };
  }

  /**
   * The organization's login for one build on a runner: the same kind of short-lived credential as push access, so
   * the token server lets it write only the organization's project and read only what the organization may read.
   */
  async buildAccess(organizationId: string): Promise<RegistryCredentials> {
    const username = `${BUILD_LOGIN_PREFIX}${randomBytes(8).toString('hex')}`;
    const secret = randomBytes(32).toString('base64url');
    const project = internalRegistryProject(organizationId);
    await this.repo.insertPushAccess({ username, secretHash: hashPushSecret(secret), organizationId, project, expiresAt: new Date(Date.now() + PUSH_ACCESS_TTL_MS) });
    return { url: this.internalRegistry, username, password: secret, project };
  }

  /**
   * Credentials of the organization's registry entry whose URL is the longest prefix of the image's location (the
   * reference matches by URL prefix of the image name); the default entry wins a tie. Undefined: pull anonymously.
   */
  async forImage(organizationId: string, imageRef: string): Promise<RegistryCredentials | undefined> {
    const location = imageLocation(imageRef);
    let best: DockerRegistry | undefined;
    for (const row of await this.repo.listForOrganization(organizationId)) {
      if (row.registryType !== 'organization') continue;
      const prefix = normalizeRegistryUrl(row.url);
      if (location !== prefix && !location.startsWith(`${prefix}/`)) continue;
      const bestLen = best ? normalizeRegistryUrl(best.url).length : -1;
      if (prefix.length > bestLen || (prefix.length === bestLen && row.isDefault && !best!.isDefault)) best = row;
    }
    if (!best) return undefined;
    const password = this.secrets.decrypt(best.passwordCiphertext, secretOwner(best.organizationId, best.id));
    return { url: normalizeRegistryUrl(best.url), username: best.username, password, ...(best.project ? { project: best.project } : {}) };
  }

  /** Another organization's entry is "not found", never "forbidden": its existence is not disclosed. */
  private async visible(p: UserPrincipal, id: string): Promise<DockerRegistry> {
    const row = UUID.test(id) ? await this.repo.findById(id) : undefined;
    if (!row || (!p.isAdmin && row.organizationId !== p.organizationId)) throw Errors.dockerRegistryNotFound(id);
    return row;
  }
}

function secretOwner(organizationId: string | null, id: string): string {
  return `${organizationId ?? '-'}/${id}`;
}

function toDto(r: DockerRegistry): DockerRegistryDto {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    username: r.username,
    project: r.project,
    registryType: r.registryType,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** `https://Ghcr.io/acme/` -> `ghcr.io/acme`; Docker Hub's aliases -> `docker.io`. */
export function normalizeRegistryUrl(url: string): string {
  let u = url.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  if (u.endsWith('/v1') || u.endsWith('/v2')) u = u.slice(0, -3);
  const slash = u.indexOf('/');
  const host = (slash < 0 ? u : u.slice(0, slash)).toLowerCase();
  const path = slash < 0 ? '' : u.slice(slash);
  return (DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host) + path;
}

/** Where an image lives, registry host first: `python:3.12` -> `docker.io/library/python`. Tag and digest dropped. */
export function imageLocation(imageRef: string): string {
  let name = imageRef.trim().split('@')[0]!;
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) name = name.slice(0, colon);
  const first = name.split('/')[0]!;
  const hasHost = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasHost) return `docker.io/${name.includes('/') ? name : `library/${name}`}`;
  return normalizeRegistryUrl(name);
}

export function pushSecretMatches(secret: string, secretHash: string): boolean {
  const a = Buffer.from(hashPushSecret(secret), 'hex');
  const b = Buffer.from(secretHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
