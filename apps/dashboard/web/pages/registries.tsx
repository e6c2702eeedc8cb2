import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Field, Loading, Page, formatDate } from '../ui.js';

// GET/POST /docker-registry, DELETE /docker-registry/{id}, POST /docker-registry/{id}/set-default (admin only).
// The API never returns a password; the form's password field is cleared once it has been sent.

interface Registry {
  id: string;
  name: string;
  url: string;
  username: string;
  project: string;
  registryType: string;
  createdAt: string;
}

const TYPES = ['organization', 'internal', 'transient', 'backup'] as const;

export function RegistriesPage() {
  const [showCreate, setShowCreate] = useState(false);
  const action = useAction();
  const list = usePoll(() => api<Registry[]>('GET', '/docker-registry'), 5000);
  const act = (fn: () => Promise<unknown>) => void action.run(fn).then((ok) => ok && list.reload());
  return (
    <Page
      title="Registries"
      actions={
        <button class="primary" onClick={() => setShowCreate(!showCreate)} aria-expanded={showCreate}>
          {showCreate ? 'Close' : 'Add registry'}
        </button>
      }
    >
      {showCreate && (
        <CreateRegistry
          onCreated={() => {
            setShowCreate(false);
            list.reload();
          }}
        />
      )}
      <ErrorBanner error={action.error} onClose={action.clear} />
      <ErrorBanner error={list.error} />
      {!list.data ? (
        list.loading && <Loading what="registries" />
      ) : list.data.length === 0 ? (
        <p class="muted">No registries.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>URL</th>
                <th class="optional">Username</th>
                <th class="optional">Project</th>
                <th class="optional">Type</th>
                <th class="optional">Created</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((r) => (
                <tr key={r.id}>
                  <td class="wrap">{r.name}</td>
                  <td class="wrap mono">{r.url}</td>
                  <td class="optional wrap">{r.username || '—'}</td>
                  <td class="optional wrap">{r.project || '—'}</td>
                  <td class="optional">{r.registryType}</td>
                  <td class="optional">{formatDate(r.createdAt)}</td>
                  <td>
                    <div class="actions">
                      <button disabled={action.busy} onClick={() => act(() => api('POST', `/docker-registry/${encodeURIComponent(r.id)}/set-default`))}>
                        Set default
                      </button>
                      <button
                        class="danger"
                        disabled={action.busy}
                        onClick={() => confirm(`Delete registry "${r.name}"?`) && act(() => api('DELETE', `/docker-registry/${encodeURIComponent(r.id)}`))}
                      >
                        Delete
                      </button>
                    </div>
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

function CreateRegistry({ onCreated }: { onCreated: () => void }) {
  const [f, setF] = useState({ name: '', url: '', username: '', password: '', project: '', registryType: 'organization' as string });
  const action = useAction();
  const set = (k: keyof typeof f) => (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) => setF({ ...f, [k]: e.currentTarget.value });
  const submit = (e: Event) => {
    e.preventDefault();
    const body = { name: f.name.trim(), url: f.url.trim(), username: f.username, password: f.password, project: f.project.trim(), registryType: f.registryType };
    void action.run(() => api('POST', '/docker-registry', body)).then((ok) => {
      // The password leaves the page's memory either way once it has been sent.
      setF((cur) => ({ ...cur, password: '' }));
      if (ok) onCreated();
    });
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-registry-title">
      <h2 id="create-registry-title">Add a registry</h2>
      <div class="form-grid">
        <Field label="Name">
          <input required value={f.name} onInput={set('name')} maxLength={255} />
        </Field>
        <Field label="URL" hint="e.g. registry.example.com">
          <input required value={f.url} onInput={set('url')} maxLength={2048} />
        </Field>
        <Field label="Username">
          <input value={f.username} onInput={set('username')} autoComplete="off" maxLength={1024} />
        </Field>
        <Field label="Password">
          <input type="password" value={f.password} onInput={set('password')} autoComplete="new-password" maxLength={8192} />
        </Field>
        <Field label="Project">
          <input value={f.project} onInput={set('project')} maxLength={255} />
        </Field>
        <Field label="Type">
          <select value={f.registryType} onChange={set('registryType')}>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <button type="submit" class="primary" disabled={action.busy || !f.name.trim() || !f.url.trim()}>
        {action.busy ? 'Adding…' : 'Add'}
      </button>
    </form>
  );
}
