import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, getSession, onSessionChange, setSession, type Session } from './api.js';
import { isOidcReturn, finishOidcSignIn, startOidcSignIn, type OidcSettings } from './oidc.js';
import { navigate, useRoute } from './router.js';
import { ErrorBanner } from './ui.js';
import { PAGES } from './pages/index.js';
import './styles.css';

interface Organization {
  id: string;
  name: string;
  personal?: boolean;
}

/** The issuer the API accepts tokens of, if any (GET /api/config, public). */
function useOidcSettings(): OidcSettings | undefined {
  const [oidc, setOidc] = useState<OidcSettings>();
  useEffect(() => {
    fetch('/api/config')
      .then((r) => (r.ok ? (r.json() as Promise<{ oidc?: OidcSettings }>) : { oidc: undefined }))
      .then((c) => setOidc(c.oidc))
      .catch(() => setOidc(undefined));
  }, []);
  return oidc;
}

/**
 * Signs in with a token of the issuer: the API provisions the user on first sight, and the pages start in the user's
 * personal organization, named explicitly so the switcher shows where they are.
 */
async function signInWithToken(token: string): Promise<void> {
  const res = await fetch('/api/organizations', { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json().catch(() => ({}))) as Organization[] | { message?: string };
  if (!res.ok || !Array.isArray(body)) {
    throw new Error(`The API did not accept the issuer's token: ${('message' in body && body.message) || `HTTP ${res.status}`}`);
  }
  const start = body.find((o) => o.personal) ?? body[0];
  setSession({ token, via: 'oidc', ...(start ? { organizationId: start.id } : {}) });
}

function SignIn({ reason }: { reason: string | undefined }) {
  // Read once per mount: finishing removes the query, so a later sign-out shows the plain form.
  const [completing] = useState(isOidcReturn);
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(reason);
  const [busy, setBusy] = useState(completing);
  const oidc = useOidcSettings();
  useEffect(() => {
    if (!completing) return;
    finishOidcSignIn()
      .then(({ token }) => signInWithToken(token))
      .catch((err: unknown) => setError((err as Error).message))
      .finally(() => setBusy(false));
  }, [completing]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const res = await fetch('/api/api-keys/current', { headers: { authorization: `Bearer ${key.trim()}` } });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { message?: string };
        throw new Error(res.status === 401 ? 'That API key is not valid (wrong, expired or revoked).' : (body.message ?? `HTTP ${res.status}`));
      }
      setSession({ token: key.trim(), via: 'api-key' });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const withIssuer = async () => {
    if (!oidc) return;
    setBusy(true);
    setError(undefined);
    try {
      // The page the user was on comes back after the round trip through the issuer.
      await startOidcSignIn(oidc, location.hash || '#/sandboxes');
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Shoal</h1>
        <p class="muted">Sign in with an API key. <code>npm start</code> prints one, and <code>shoal key create</code> makes more.</p>
        <ErrorBanner error={error} />
        <label class="field">
          <span>API key</span>
          <input name="apiKey" type="password" autoComplete="off" required value={key} onInput={(e) => setKey(e.currentTarget.value)} autoFocus />
        </label>
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {oidc && (
          <button type="button" class="oidc-signin" disabled={busy} onClick={withIssuer}>
            Sign in with {oidc.issuer}
          </button>
        )}
      </form>
    </main>
  );
}

function OrganizationSwitcher({ session }: { session: Session }) {
  const [orgs, setOrgs] = useState<Organization[]>([]);
  useEffect(() => {
    api<Organization[]>('GET', '/organizations')
      .then(setOrgs)
      .catch(() => setOrgs([]));
  }, [session.token]);
  if (orgs.length < 2) return null;
  // A token acts in the organization it names; a key always acts in its own, so for a key the choice only tells the
  // pages which of the user's organizations that is.
  const tokenSession = session.via === 'oidc';
  return (
    <label class="org-switcher">
      <span class="sr-only">Organization</span>
      <select
        name="organization"
        value={session.organizationId ?? ''}
        onChange={(e) => setSession({ token: session.token, via: session.via, ...(e.currentTarget.value ? { organizationId: e.currentTarget.value } : {}) })}
      >
        {!tokenSession && <option value="">The key's organization</option>}
        {orgs.map((o) => (
          <option value={o.id} key={o.id}>
            {o.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function Shell({ session }: { session: Session }) {
  const route = useRoute();
  const page = PAGES.find((p) => p.path === route[0]) ?? PAGES[0]!;
  const [menuOpen, setMenuOpen] = useState(false);
  return (
    <div class="shell">
      <header class="top">
        <button class="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <a class="brand" href="#/sandboxes">
          Shoal
        </a>
        <OrganizationSwitcher session={session} />
        <button class="link" onClick={() => setSession(null)}>
          Sign out
        </button>
      </header>
      <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Pages">
        {PAGES.map((p) => (
          <a key={p.path} href={`#/${p.path}`} aria-current={p === page ? 'page' : undefined} onClick={() => setMenuOpen(false)}>
            {p.title}
          </a>
        ))}
      </nav>
      <main id="content" key={session.organizationId ?? ''}>
        <page.component args={route.slice(1)} />
      </main>
    </div>
  );
}

function App() {
  const [session, set] = useState<Session | null>(getSession());
  const [reason, setReason] = useState<string>();
  useEffect(
    () =>
      onSessionChange((s, why) => {
        set(s);
        setReason(why);
        // The page the user was on stays in the URL: signing in again returns to it.
      }),
    [],
  );
  return session ? <Shell session={session} /> : <SignIn reason={reason} />;
}

// Back from the issuer the address is the bare dashboard URL with ?code&state; the route to return to is restored by
// finishOidcSignIn from what was saved before leaving.
if (!location.hash && !isOidcReturn()) navigate('/sandboxes');
render(<App />, document.getElementById('app')!);
