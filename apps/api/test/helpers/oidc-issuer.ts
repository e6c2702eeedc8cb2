import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors as providerErrors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * A real OpenID Connect issuer for tests: panva's `oidc-provider` on 127.0.0.1 (ephemeral port), with its own signing
 * key published at its jwks_uri. Tokens come out of the ordinary authorization-code flow driven over HTTP (the login
 * interaction logs in whichever account `login_hint` names, there is no consent screen), so what a test gets is exactly
 * what the issuer hands a real client: a JWT access token for the resource `audience` (RFC 8707, `sub` = the account)
 * and an ID token. Reusable by every API and e2e test that needs a JWT user.
 *
 * With `browser` set it also registers a public client for a browser app (the dashboard): no secret, PKCE (S256)
 * required and verified by the token endpoint, redirects only to the given URI, CORS from that URI's origin, and the
 * login step signs in the configured account when the request names none (a user who approves at once).
 */
export interface TestAccount {
  sub: string;
  email?: string;
  name?: string;
  email_verified?: boolean;
}

export interface TestIssuer {
  /** Issuer base URL (discovery at `<issuer>/.well-known/openid-configuration`). */
  issuer: string;
  /** The `aud` of access tokens: configure the API with SHOAL_OIDC_AUDIENCE=<audience>. */
  audience: string;
  clientId: string;
  /** A fresh access token (JWT, RS256 or the `alg` asked for) for the account; `ttlSeconds` (default 600) sets its lifetime. */
  mintToken(account: TestAccount, opts?: { ttlSeconds?: number }): Promise<string>;
  /** The ID token of the same flow (audience = clientId). */
  mintIdToken(account: TestAccount): Promise<string>;
  /** The public client's id when `browser` is set (SHOAL_OIDC_CLIENT_ID in env()). */
  browserClientId: string | undefined;
  /** Environment for an API process that accepts this issuer's tokens. */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

const SCOPE = 'openid email profile';
const REDIRECT_URI = 'http://127.0.0.1/callback';

export interface BrowserClientOptions {
  /** Where the issuer may send the browser back with the code (the dashboard's own URL). */
  redirectUri: string;
  /** The account signed in when the authorization request names none. */
  account: TestAccount;
}

export async function startTestIssuer(
  opts: { audience?: string; clientId?: string; alg?: 'RS256' | 'ES256'; browser?: BrowserClientOptions } = {},
): Promise<TestIssuer> {
  const audience = opts.audience ?? 'urn:shoal:api';
  const clientId = opts.clientId ?? 'shoal-test-client';
  const clientSecret = 'shoal-test-client-secret-0123456789abcdef';
  const accounts = new Map<string, TestAccount>();
  const browserClientId = opts.browser ? 'shoal-test-browser' : undefined;
  if (opts.browser) accounts.set(opts.browser.account.sub, { ...opts.browser.account });
  let accessTokenTtl = 600;

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const alg = opts.alg ?? 'RS256';
  // An RSA key always (ID tokens use RS256); an EC key too when access tokens are to be signed with ES256.
  const keys = [{ ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).privateKey)), alg: 'RS256', use: 'sig', kid: 'shoal-test-rs256' }];
  if (alg === 'ES256') keys.push({ ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), alg: 'ES256', use: 'sig', kid: 'shoal-test-es256' });

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      ...(opts.browser
        ? [
            {
              client_id: browserClientId!,
              redirect_uris: [opts.browser.redirectUri],
              grant_types: ['authorization_code'],
              response_types: ['code' as const],
              token_endpoint_auth_method: 'none' as const,
            },
          ]
        : []),
    ],
    jwks: { keys },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    // ID tokens carry the profile claims directly (no userinfo round trip needed by a test).
    conformIdTokenClaims: false,
    findAccount: (_ctx, sub) => {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        claims: () => ({ sub, email: a.email, email_verified: a.email_verified, name: a.name, preferred_username: a.name }),
      };
    },
    // Access tokens carry the identity claims too, as hosted issuers can be configured to (the API reads them there).
    extraTokenClaims: (_ctx, token) => {
      const sub = 'accountId' in token ? (token.accountId as string | undefined) : undefined;
      const a = sub ? accounts.get(sub) : undefined;
      if (!a) return undefined;
      return { email: a.email, email_verified: a.email_verified, name: a.name };
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== audience) throw new providerErrors.InvalidTarget();
          return { scope: SCOPE, audience, accessTokenFormat: 'jwt', accessTokenTTL: accessTokenTtl, jwt: { sign: { alg } } };
        },
      },
    },
    // Every client of this issuer is first-party: the grant is made without a consent prompt.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId || !ctx.oidc.client) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId });
      grant.addOIDCScope(SCOPE);
      grant.addResourceScope(audience, SCOPE);
      await grant.save();
      return grant;
    },
    // A browser app's fetches (the code exchange) come from its own origin: the public client's redirect origin only.
    clientBasedCORS: (_ctx, origin, client) => client.clientAuthMethod === 'none' && (client.redirectUris ?? []).some((uri) => new URL(uri).origin === origin),
    // A client without a secret proves it started the flow with the code verifier; the secret-holding one need not.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    ttl: {
      Interaction: 600,
      Session: 600,
      Grant: 600,
      IdToken: 600,
      // The resource server's lifetime (mintToken's ttlSeconds) decides.
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });

  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      void login(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
      return;
    }
    void callback(req, res);
  });

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const accountId = details.params.login_hint ?? opts.browser?.account.sub;
    if (typeof accountId !== 'string' || !accounts.has(accountId)) throw new Error('unknown login_hint');
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  }

  /** The authorization-code flow as a browser would run it (cookies kept per flow, redirects followed by hand). */
  async function flow(account: TestAccount): Promise<{ access_token: string; id_token: string }> {
    accounts.set(account.sub, { ...account });
    const cookies = new Map<string, string>();
    const get = async (url: string): Promise<string> => {
      const res = await fetch(new URL(url, issuer), { redirect: 'manual', headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      await res.arrayBuffer();
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) throw new Error(`issuer answered ${res.status} for ${url}`);
      return location;
    };
    const auth = new URL('/auth', issuer);
    auth.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      resource: audience,
      login_hint: account.sub,
      state: 'state',
      nonce: 'nonce',
    }).toString();
    let location = await get(auth.toString());
    for (let hops = 0; !location.startsWith(REDIRECT_URI); hops++) {
      if (hops > 5) throw new Error('authorization flow did not finish');
      location = await get(location);
    }
    const code = new URL(location).searchParams.get('code');
    if (!code) throw new Error(`no code in ${location}`);
    const res = await fetch(new URL('/token', issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: clientId, client_secret: clientSecret, resource: audience }),
    });
    const body = (await res.json()) as { access_token?: string; id_token?: string; error?: string; error_description?: string };
    if (!res.ok || !body.access_token || !body.id_token) throw new Error(`token endpoint: ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
    return { access_token: body.access_token, id_token: body.id_token };
  }

  // One flow at a time, so the lifetime asked for applies to that flow's token only.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  }

  return {
    issuer,
    audience,
    clientId,
    mintToken: (account, o = {}) =>
      serial(async () => {
        accessTokenTtl = o.ttlSeconds ?? 600;
        try {
          return (await flow(account)).access_token;
        } finally {
          accessTokenTtl = 600;
        }
      }),
    mintIdToken: (account) => serial(async () => (await flow(account)).id_token),
    browserClientId,
    env: () => ({ SHOAL_OIDC_ISSUER: issuer, SHOAL_OIDC_AUDIENCE: audience, SHOAL_OIDC_CLIENT_ID: browserClientId ?? clientId }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
