import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, getSession, onSessionChange, setSession, type Session } from './api.js';
import { navigate, useRoute } from './router.js';
import { ErrorBanner } from './ui.js';
import { PAGES } from './pages/index.js';
import './styles.css';

interface Organization {
  id: string;
  name: string;
  personal?: boolean;
}

function SignIn({ reason }: { reason: string | undefined }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(reason);
  const [busy, setBusy] = useState(false);
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
      setSession({ apiKey: key.trim() });
    } catch (err) {
      setError((err as Error).message);
    } finally {
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
  }, [session.apiKey]);
  if (orgs.length < 2) return null;
  return (
    <label class="org-switcher">
      <span class="sr-only">Organization</span>
      <select
        value={session.organizationId ?? ''}
        onChange={(e) => setSession({ apiKey: session.apiKey, ...(e.currentTarget.value ? { organizationId: e.currentTarget.value } : {}) })}
      >
        <option value="">The key's organization</option>
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

if (!location.hash) navigate('/sandboxes');
render(<App />, document.getElementById('app')!);
