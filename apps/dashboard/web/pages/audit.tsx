import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { usePoll } from '../hooks.js';
import type { Paginated } from '../types.js';
import { ErrorBanner, Field, Loading, Page, formatDate } from '../ui.js';
import { useCurrentOrganization } from './organization.js';

// GET /audit/organizations/{organizationId}?page&limit (newest first; needs read:audit_logs). Entries carry strings
// callers chose (user agents, target ids, error messages), so every field is rendered as text.

interface AuditLog {
  id: string;
  actorId: string;
  actorEmail: string;
  action: string;
  targetType?: string;
  targetId?: string;
  statusCode?: number;
  errorMessage?: string;
  ipAddress?: string;
  source?: string;
  createdAt: string;
}

const LIMIT = 50;

export function AuditPage() {
  const current = useCurrentOrganization();
  const org = current.data?.org;
  return (
    <Page title="Audit log">
      <ErrorBanner error={current.error} />
      {current.data?.note && <p class="notice">{current.data.note}</p>}
      {!org ? current.loading && <Loading what="the organization" /> : <AuditTable key={org.id} orgId={org.id} />}
    </Page>
  );
}

function AuditTable({ orgId }: { orgId: string }) {
  const [page, setPage] = useState(1);
  const [action, setAction] = useState('');
  const logs = usePoll(
    () =>
      api<Paginated<AuditLog>>(
        'GET',
        `/audit/organizations/${encodeURIComponent(orgId)}?${new URLSearchParams({ page: String(page), limit: String(LIMIT), ...(action.trim() ? { action: action.trim() } : {}) })}`,
      ),
    5000,
    [orgId, page, action],
  );
  return (
    <>
      <div class="filters">
        <Field label="Action" hint="Exact, e.g. create or delete">
          <input
            type="search"
            value={action}
            onInput={(e) => {
              setAction(e.currentTarget.value);
              setPage(1);
            }}
          />
        </Field>
      </div>
      <ErrorBanner error={logs.error} />
      {!logs.data ? (
        logs.loading && <Loading what="audit entries" />
      ) : logs.data.items.length === 0 ? (
        <p class="muted">No audit entries.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Time</th>
                <th>Actor</th>
                <th>Action</th>
                <th class="optional">Target</th>
                <th>Status</th>
                <th class="optional">Error</th>
              </tr>
            </thead>
            <tbody>
              {logs.data.items.map((l) => (
                <tr key={l.id}>
                  <td>{formatDate(l.createdAt)}</td>
                  <td class="wrap">
                    {l.actorEmail || l.actorId}
                    {l.source && <div class="muted">{l.source}</div>}
                  </td>
                  <td class="wrap">{l.action}</td>
                  <td class="optional wrap">{l.targetType || l.targetId ? `${l.targetType ?? ''}${l.targetId ? ` ${l.targetId}` : ''}` : '—'}</td>
                  <td>{l.statusCode ?? '—'}</td>
                  <td class="optional wrap">{l.errorMessage ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {logs.data && logs.data.totalPages > 1 && (
        <nav class="pager" aria-label="Audit pages">
          <button disabled={page <= 1} onClick={() => setPage(page - 1)}>
            Newer
          </button>
          <span>
            Page {logs.data.page} of {logs.data.totalPages} ({logs.data.total})
          </span>
          <button disabled={page >= logs.data.totalPages} onClick={() => setPage(page + 1)}>
            Older
          </button>
        </nav>
      )}
    </>
  );
}
