// Sign-in with the OIDC issuer the API is configured with (GET /api/config → oidc): the authorization-code flow of a
// public client, run by the browser itself (RFC 6749 §4.1, PKCE S256 per RFC 7636, state and nonce). The dashboard has
// no secret and no server side of its own: the verifier, state and nonce wait in sessionStorage while the browser is
// at the issuer, and are used once on return.

export interface OidcSettings {
  issuer: string;
  clientId: string;
  audience: string;
}

/** What the browser must remember across the round trip to the issuer. */
interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  tokenEndpoint: string;
  redirectUri: string;
  audience: string;
  clientId: string;
  /** The dashboard page (hash route) to return to once signed in. */
  returnTo: string;
}

const PENDING_KEY = 'shoal.oidc.pending';
const SCOPE = 'openid email profile';

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function s256(verifier: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

/** Claims of a compact JWT, unverified: only to pick which token is for the API (the API verifies what it gets). */
function claims(jwt: string | undefined): Record<string, unknown> | undefined {
  const part = jwt?.split('.')[1];
  if (!part || jwt!.split('.').length !== 3) return undefined;
  try {
    const bin = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const hasAudience = (c: Record<string, unknown> | undefined, aud: string) => (Array.isArray(c?.aud) ? c.aud.includes(aud) : c?.aud === aud);

/** The dashboard's own URL without query or route: what the issuer sends the browser back to. */
function redirectUri(): string {
  return `${location.origin}${location.pathname}`;
}

/** Reads discovery and sends the browser to the issuer's authorization endpoint; does not return on success. */
export async function startOidcSignIn(settings: OidcSettings, returnTo: string): Promise<void> {
  const base = settings.issuer.replace(/\/+$/, '');
  const res = await fetch(`${base}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`The issuer's discovery document could not be read (HTTP ${res.status}).`);
  const doc = (await res.json()) as { issuer?: unknown; authorization_endpoint?: unknown; token_endpoint?: unknown; code_challenge_methods_supported?: unknown };
  // The same check the API makes: a document describing another issuer would send the user there.
  if (typeof doc.issuer !== 'string' || doc.issuer.replace(/\/+$/, '') !== base) throw new Error('The discovery document names another issuer.');
  if (typeof doc.authorization_endpoint !== 'string' || typeof doc.token_endpoint !== 'string') {
    throw new Error('The issuer has no authorization or token endpoint; it cannot sign a browser in.');
  }
  if (Array.isArray(doc.code_challenge_methods_supported) && !doc.code_challenge_methods_supported.includes('S256')) {
    throw new Error('The issuer does not support PKCE with S256.');
  }
  const pending: Pending = {
    state: randomToken(),
    nonce: randomToken(),
    verifier: randomToken(),
    tokenEndpoint: doc.token_endpoint,
    redirectUri: redirectUri(),
    audience: settings.audience,
    clientId: settings.clientId,
    returnTo,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(doc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: pending.redirectUri,
    scope: SCOPE,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(pending.verifier),
    code_challenge_method: 'S256',
    // RFC 8707: an access token for the API rather than for the issuer's userinfo endpoint.
    ...(settings.audience && settings.audience !== settings.clientId ? { resource: settings.audience } : {}),
  }).toString();
  location.assign(url.toString());
}

/** True when the page was loaded as the issuer's redirect back (a code or an error in the query). */
export function isOidcReturn(): boolean {
  const q = new URLSearchParams(location.search);
  return q.has('state') && (q.has('code') || q.has('error'));
}

/**
 * Completes a return from the issuer: checks state, exchanges the code with the PKCE verifier, checks the nonce and
 * returns the token the API accepts (a JWT whose audience is the API's) and the page to go back to. The query is
 * removed from the address bar whatever happens, and the pending request is used at most once.
 */
export async function finishOidcSignIn(): Promise<{ token: string; returnTo: string }> {
  const q = new URLSearchParams(location.search);
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? (JSON.parse(raw) as Pending) : undefined;
  history.replaceState(null, '', `${location.pathname}${pending?.returnTo ?? location.hash}`);
  if (!pending || q.get('state') !== pending.state) {
    throw new Error('The sign-in response does not match a sign-in started in this tab (state mismatch). Sign in again.');
  }
  const error = q.get('error');
  if (error) throw new Error(`The issuer refused the sign-in: ${q.get('error_description') || error}`);
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: q.get('code') ?? '',
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
      ...(pending.audience && pending.audience !== pending.clientId ? { resource: pending.audience } : {}),
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; id_token?: string; error?: string; error_description?: string };
  if (!res.ok) throw new Error(`The issuer's token endpoint refused the code: ${body.error_description || body.error || `HTTP ${res.status}`}`);
  const idClaims = claims(body.id_token);
  if (!idClaims || idClaims.nonce !== pending.nonce) throw new Error('The ID token does not carry the nonce of this sign-in.');
  // The API verifies the audience it is configured with: the access token when the issuer made one for it (a JWT),
  // else the ID token when that audience is the client itself.
  const token = [body.access_token, body.id_token].find((t) => hasAudience(claims(t), pending.audience));
  if (!token) throw new Error(`The issuer gave no token for the API's audience "${pending.audience}".`);
  return { token, returnTo: pending.returnTo };
}
