import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Field, Loading, Page, StateBadge, formatDate } from '../ui.js';

// GET /volumes (VolumeDto[]), POST /volumes {name}, DELETE /volumes/{volumeId} (409 while a sandbox mounts it).

interface Volume {
  id: string;
  name: string;
  state: string;
  createdAt: string;
  lastUsedAt: string | null;
  errorReason: string | null;
}

export function VolumesPage() {
  const [name, setName] = useState('');
  const action = useAction();
  const list = usePoll(() => api<Volume[]>('GET', '/volumes'), 5000);
  const create = (e: Event) => {
    e.preventDefault();
    void action.run(() => api('POST', '/volumes', name.trim() ? { name: name.trim() } : {})).then((ok) => {
      if (!ok) return;
      setName('');
      list.reload();
    });
  };
  return (
    <Page title="Volumes">
      <form class="card filters" onSubmit={create} aria-label="Create a volume">
        <Field label="New volume name" hint="Empty: the API picks one">
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={255} />
        </Field>
        <button type="submit" class="primary" disabled={action.busy}>
          Create volume
        </button>
      </form>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <ErrorBanner error={list.error} />
      {!list.data ? (
        list.loading && <Loading what="volumes" />
      ) : list.data.length === 0 ? (
        <p class="muted">No volumes.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>State</th>
                <th class="optional">Id</th>
                <th class="optional">Created</th>
                <th class="optional">Last used</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((v) => (
                <tr key={v.id}>
                  <td class="wrap">{v.name}</td>
                  <td>
                    <StateBadge state={v.state} />
                    {v.errorReason && (
                      <div class="muted" style={{ overflowWrap: 'anywhere' }}>
                        {v.errorReason}
                      </div>
                    )}
                  </td>
                  <td class="optional mono wrap">{v.id}</td>
                  <td class="optional">{formatDate(v.createdAt)}</td>
                  <td class="optional">{formatDate(v.lastUsedAt)}</td>
                  <td>
                    <button
                      class="danger"
                      disabled={action.busy || v.state === 'pending_delete' || v.state === 'deleting'}
                      onClick={() =>
                        confirm(`Delete volume "${v.name}" and its data?`) &&
                        void action.run(() => api('DELETE', `/volumes/${encodeURIComponent(v.id)}`)).then((ok) => ok && list.reload())
                      }
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
