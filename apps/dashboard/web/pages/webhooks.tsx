import { useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Loading, Page, formatDate } from '../ui.js';
import { useCurrentOrganization } from './organization.js';

// GET /webhooks/organizations/{id}/initialization-status (404 = not initialized), POST .../initialize (admins),
// POST .../app-portal-access → {url}: the endpoint portal is its own page (own CSP, token in the URL fragment), so it
// opens in a new tab rather than inside the dashboard.

interface InitializationStatus {
  organizationId: string;
  svixApplicationId: string | null;
  lastError: string | null;
  retryCount: number;
  createdAt: string;
  updatedAt: string;
}

export function WebhooksPage() {
  const current = useCurrentOrganization();
  const org = current.data?.org;
  return (
    <Page title="Webhooks">
      <ErrorBanner error={current.error} />
      {current.data?.note && <p class="notice">{current.data.note}</p>}
      {!org ? current.loading && <Loading what="the organization" /> : <Webhooks key={org.id} orgId={org.id} />}
    </Page>
  );
}

function Webhooks({ orgId }: { orgId: string }) {
  const base = `/webhooks/organizations/${encodeURIComponent(orgId)}`;
  const status = usePoll(
    () =>
      api<InitializationStatus>('GET', `${base}/initialization-status`).catch((e: unknown) => {
        if (e instanceof ApiError && e.statusCode === 404) return null;
        throw e;
      }),
    5000,
    [base],
  );
  const action = useAction();
  const [portalUrl, setPortalUrl] = useState<string>();
  const openPortal = () =>
    void action.run(async () => {
      const { url } = await api<{ url: string }>('POST', `${base}/app-portal-access`);
      setPortalUrl(url);
      window.open(url, '_blank', 'noopener,noreferrer');
    });
  const s = status.data;
  return (
    <>
      <section class="card" aria-labelledby="wh-status-title">
        <h2 id="wh-status-title">Initialization</h2>
        <ErrorBanner error={status.error} />
        {s === undefined ? (
          status.loading && <Loading what="the webhook status" />
        ) : s === null ? (
          <>
            <p>Webhooks are not initialized for this organization.</p>
            <button
              class="primary"
              disabled={action.busy}
              onClick={() => void action.run(() => api('POST', `${base}/initialize`)).then((ok) => ok && status.reload())}
            >
              Initialize webhooks
            </button>
            <p class="muted">Initializing is an administrator's operation; others get the API's refusal below.</p>
          </>
        ) : (
          <dl class="kv">
            <dt>Status</dt>
            <dd>Initialized</dd>
            <dt>Application</dt>
            <dd class="mono">{s.svixApplicationId ?? '—'}</dd>
            <dt>Last error</dt>
            <dd>{s.lastError ?? '—'}</dd>
            <dt>Retries</dt>
            <dd>{s.retryCount}</dd>
            <dt>Since</dt>
            <dd>{formatDate(s.createdAt)}</dd>
          </dl>
        )}
      </section>
      <section class="card" aria-labelledby="wh-portal-title">
        <h2 id="wh-portal-title">Endpoints</h2>
        <p class="muted">Endpoints, event types and delivery attempts are managed in the endpoint portal (organization owners).</p>
        <ErrorBanner error={action.error} onClose={action.clear} />
        <button onClick={openPortal} disabled={action.busy}>
          Open the endpoint portal
        </button>
        {portalUrl && (
          <p>
            If no tab opened:{' '}
            <a href={portalUrl} target="_blank" rel="noopener noreferrer">
              open the endpoint portal
            </a>{' '}
            (the link is short-lived).
          </p>
        )}
      </section>
    </>
  );
}
