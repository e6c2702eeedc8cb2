import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { Errors } from '../errors.js';

export interface OidcSettings {
  /** Issuer base URL; discovery is read from `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  /** The `aud` every accepted token must carry. */
  audience: string;
}

/** Claims Shoal reads from a verified token. */
export interface OidcIdentity {
  sub: string;
  name: string;
  email: string;
  emailVerified: boolean;
}

const ALGORITHMS = ['RS256', 'ES256'];
const DISCOVERY_TIMEOUT_MS = 5000;

/** Three base64url segments: what a compact JWS looks like (API keys and runner tokens never contain a dot). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

/**
 * Verifies bearer JWTs of one OIDC issuer: discovery once (retried after a failure), keys from its jwks_uri through
 * jose's remote key set (cached, refetched on an unknown `kid`), issuer/audience/algorithm/exp/nbf checked by jose.
 */
export class OidcVerifier {
  private discovery: Promise<{ issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> }> | undefined;

  constructor(private readonly settings: OidcSettings) {}

  async verify(token: string): Promise<OidcIdentity> {
    const { issuer, jwks } = await this.discover();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer, audience: this.settings.audience, algorithms: ALGORITHMS }));
    } catch (err) {
      throw Errors.unauthorized(`Invalid token: ${describe(err)}`);
    }
    if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 255) throw Errors.unauthorized('Invalid token: no subject');
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    return {
      sub: payload.sub,
      name: str(payload.name) || str(payload.preferred_username) || str(payload.username) || 'Unknown',
      email: str(payload.email),
      emailVerified: payload.email_verified === true,
    };
  }

  private discover(): Promise<{ issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> }> {
    this.discovery ??= this.fetchDiscovery().catch((err: unknown) => {
      this.discovery = undefined;
      throw err;
    });
    return this.discovery;
  }

  private async fetchDiscovery(): Promise<{ issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> }> {
    const base = this.settings.issuer.replace(/\/+$/, '');
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const res = await fetch(`${base}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = (await res.json()) as typeof doc;
    } catch (err) {
      throw Errors.unauthorized(`Invalid token: the OIDC issuer's discovery document could not be read (${(err as Error).message})`);
    }
    // The document must describe the configured issuer, or tokens of another issuer could pass as ours.
    if (typeof doc.issuer !== 'string' || doc.issuer.replace(/\/+$/, '') !== base || typeof doc.jwks_uri !== 'string') {
      throw Errors.unauthorized('Invalid token: the OIDC discovery document does not match the configured issuer');
    }
    return { issuer: doc.issuer, jwks: createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: DISCOVERY_TIMEOUT_MS }) };
  }
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" is not valid (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the issuer matches the token';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'signing algorithm not allowed';
  if (err instanceof joseErrors.JOSEError) return err.message;
  return 'could not be verified';
}
