import { createPrivateKey, createSign, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { REGISTRY_TOKEN_ISSUER, REGISTRY_TOKEN_SERVICE, RUNNER_REGISTRY_USERNAME, runnerTokenHash } from '@shoal/contracts';
import { Errors } from '../errors.js';
import type { DockerRegistryRepository } from '../repositories/docker-registry.repository.js';
import { BUILD_LOGIN_PREFIX, pushSecretMatches } from './docker-registry.service.js';

/** How long a registry token lives; clients ask again per operation, and a runner's long push re-asks when it expires. */
const TOKEN_TTL_S = 900;
/** The only actions Shoal grants; `delete` and the catalog stay closed to everyone. */
const GRANTABLE = new Set(['pull', 'push']);
// Distribution's repository name grammar; anything else (traversal, upper case, hosts) is never granted.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REPOSITORY_NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export interface RegistryAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface RegistryTokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/**
 * Signs registry tokens as Distribution 2.8 verifies them: a JWS whose `x5c` header carries the certificate found in
 * the registry's `rootcertbundle`, with `iss` = the configured issuer, `aud` = the service, `exp`/`nbf`, and an
 * `access` list of {type, name, actions}.
 */
export class RegistryTokenSigner {
  private constructor(
    private readonly key: KeyObject,
    private readonly certDer: Buffer,
  ) {}

  static async load(keyFile: string, certFile: string): Promise<RegistryTokenSigner> {
    const key = createPrivateKey(await readFile(keyFile));
    const cert = new X509Certificate(await readFile(certFile));
    if (!cert.checkPrivateKey(key)) throw new Error(`${certFile} does not belong to ${keyFile}`);
    return new RegistryTokenSigner(key, cert.raw);
  }

  sign(subject: string, access: RegistryAccess[], now = Date.now()): RegistryTokenResponse {
    const iat = Math.floor(now / 1000);
    const ec = this.key.asymmetricKeyType === 'ec';
    const header = { typ: 'JWT', alg: ec ? 'ES256' : 'RS256', x5c: [this.certDer.toString('base64')] };
    const claims = { iss: REGISTRY_TOKEN_ISSUER, sub: subject, aud: REGISTRY_TOKEN_SERVICE, exp: iat + TOKEN_TTL_S, nbf: iat - 1, iat, jti: randomBytes(16).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('SHA256').update(input).sign(ec ? { key: this.key, dsaEncoding: 'ieee-p1363' } : this.key);
    const token = `${input}.${b64url(signature)}`;
    return { token, access_token: token, expires_in: TOKEN_TTL_S, issued_at: new Date(iat * 1000).toISOString() };
  }
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** Who may do what on the internal registry; the caller is whoever the Basic credentials name. */
type Grant = { kind: 'all' } | { kind: 'project'; project: string; readShared: boolean };

/**
 * The token server of the internal registry (Docker token auth). Runners (user `runner`, password = their token)
 * may pull and push anything; `registry-push-access` credentials only their organization's project; a build's login
 * also pulls what every organization may build from (Shoal's own images, the general project); anyone else,
 * anonymous callers included, gets 401. Sandboxes hold no credentials at all.
 */
export class RegistryTokenService {
  private signer: Promise<RegistryTokenSigner> | undefined;

  constructor(
    private readonly repo: DockerRegistryRepository,
    private readonly files: { keyFile: string; certFile: string } | undefined,
  ) {}

  async issue(authorization: string | undefined, scopes: string[]): Promise<RegistryTokenResponse> {
    if (!this.files) throw Errors.registryAuthNotConfigured();
    const creds = parseBasic(authorization);
    if (!creds) throw Errors.unauthorized('Registry credentials required');
    const grant = await this.authenticate(creds.username, creds.password);
    if (!grant) throw Errors.unauthorized('Invalid registry credentials');
    const access: RegistryAccess[] = [];
    for (const scope of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
      const wanted = parseScope(scope);
      if (!wanted || wanted.type !== 'repository' || !REPOSITORY_NAME.test(wanted.name)) continue;
      let actions = wanted.actions.filter((a) => GRANTABLE.has(a));
      if (grant.kind === 'project' && !wanted.name.startsWith(`${grant.project}/`)) {
        // Outside its own project an organization may only read what any organization may build from: Shoal's own
        // images and the general project, never another organization's `shoal-<id>/` project.
        if (!grant.readShared || !readableByAnyOrganization(wanted.name)) continue;
        actions = actions.filter((a) => a === 'pull');
      }
      if (actions.length) access.push({ type: 'repository', name: wanted.name, actions });
    }
    this.signer ??= RegistryTokenSigner.load(this.files.keyFile, this.files.certFile);
    const signer = await this.signer.catch((err: unknown) => {
      this.signer = undefined;
      throw err;
    });
    return signer.sign(creds.username, access);
  }

  private async authenticate(username: string, password: string): Promise<Grant | undefined> {
    if (password === '') return undefined;
    if (username === RUNNER_REGISTRY_USERNAME) {
      return (await this.repo.findRunnerIdByTokenHash(runnerTokenHash(password))) ? { kind: 'all' } : undefined;
    }
    const row = await this.repo.findLivePushAccess(username);
    if (!row || !pushSecretMatches(password, row.secretHash)) return undefined;
    return { kind: 'project', project: row.project, readShared: username.startsWith(BUILD_LOGIN_PREFIX) };
  }
}

/** Repositories outside every organization's project (`shoal-<org>/`), or in the general one. */
function readableByAnyOrganization(name: string): boolean {
  return !/^shoal-[^/]+\//.test(name) || name.startsWith('shoal-general/');
}

function parseBasic(authorization: string | undefined): { username: string; password: string } | undefined {
  const m = authorization ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `repository:shoal-x/app:pull,push` -> {repository, shoal-x/app, [pull, push]}. */
export function parseScope(scope: string): RegistryAccess | undefined {
  const parts = scope.split(':');
  if (parts.length < 3) return undefined;
  const type = parts[0]!;
  const actions = parts[parts.length - 1]!.split(',').filter(Boolean);
  const name = parts.slice(1, -1).join(':');
  return { type, name, actions };
}
