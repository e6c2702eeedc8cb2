import { useState } from 'preact/hooks';
// The one list the API validates against; a plain constant module, so the bundle takes it without the rest of contracts.
import { PERMISSIONS } from '../../../../packages/contracts/src/permissions.js';
import { api } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Field, Loading, Page, formatDate } from '../ui.js';

interface ApiKey {
  name: string;
  /** Masked in listings: prefix, stars, the last three characters. */
  value: string;
  createdAt: string;
  permissions: string[];
  lastUsedAt?: string | null;
  expiresAt?: string | null;
  userId: string;
}

export function ApiKeysPage() {
  const keys = usePoll(() => Promise.all([api<ApiKey[]>('GET', '/api-keys'), api<ApiKey>('GET', '/api-keys/current')]), 5000);
  const [creating, setCreating] = useState(false);
  const action = useAction();
  const [list, current] = keys.data ?? [undefined, undefined];
  const revoke = async (k: ApiKey) => {
    const own = k.userId === current?.userId;
    const warning = own && k.name === current?.name ? '\n\nThis is the key this page is signed in with: you will be signed out.' : '';
    if (!confirm(`Revoke the API key "${k.name}"? Programs using it stop working at once.${warning}`)) return;
    const path = own ? `/api-keys/${encodeURIComponent(k.name)}` : `/api-keys/${encodeURIComponent(k.userId)}/${encodeURIComponent(k.name)}`;
    if (await action.run(() => api('DELETE', path))) keys.reload();
  };
  return (
    <Page
      title="API keys"
      actions={
        <button class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
          {creating ? 'Close form' : 'New API key'}
        </button>
      }
    >
      {creating && <CreateKey onCreated={keys.reload} />}
      <ErrorBanner error={keys.error} />
      <ErrorBanner error={action.error} onClose={action.clear} />
      {!list ? (
        keys.loading && <Loading what="API keys" />
      ) : list.length === 0 ? (
        <p class="muted">No API keys.</p>
      ) : (
        <div class="table-wrap">
          <table id="api-keys">
            <thead>
              <tr>
                <th>Name</th>
                <th class="optional">Key</th>
                <th>Permissions</th>
                <th class="optional">Owner</th>
                <th class="optional">Created</th>
                <th class="optional">Last used</th>
                <th>Expires</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((k) => (
                <tr key={`${k.userId}/${k.name}`} data-key-name={k.name}>
                  <td class="wrap">
                    {k.name}
                    {current && k.name === current.name && k.userId === current.userId && <div>
                        <span class="badge">this session</span>
                      </div>}
                  </td>
                  <td class="optional mono">{k.value}</td>
                  <td>
                    <span class="labels">
                      {k.permissions.length ? (
                        k.permissions.map((p) => (
                          <span class="label" key={p}>
                            {p}
                          </span>
                        ))
                      ) : (
                        <span class="muted">read only</span>
                      )}
                    </span>
                  </td>
                  <td class="optional wrap">{k.userId}</td>
                  <td class="optional">{formatDate(k.createdAt)}</td>
                  <td class="optional">{formatDate(k.lastUsedAt)}</td>
                  <td>{k.expiresAt ? formatDate(k.expiresAt) : 'never'}</td>
                  <td>
                    <button class="danger" disabled={action.busy} onClick={() => revoke(k)} aria-label={`Revoke ${k.name}`}>
                      Revoke
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

function CreateKey({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [perms, setPerms] = useState<Set<string>>(new Set());
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<{ name: string; value: string }>();
  const [copied, setCopied] = useState<string>();
  const action = useAction();
  const toggle = (p: string) =>
    setPerms((old) => {
      const next = new Set(old);
      if (next.has(p)) next.delete(p);
      else next.add(p);
      return next;
    });
  const submit = async (e: Event) => {
    e.preventDefault();
    setCreated(undefined);
    setCopied(undefined);
    await action.run(async () => {
      if (perms.size === 0) throw new Error('Choose at least one permission');
      const body: Record<string, unknown> = { name: name.trim(), permissions: PERMISSIONS.filter((p) => perms.has(p)) };
      if (expires) {
        const at = new Date(expires);
        if (Number.isNaN(at.getTime())) throw new Error('The expiry is not a valid date');
        body.expiresAt = at.toISOString();
      }
      const key = await api<{ name: string; value: string }>('POST', '/api-keys', body);
      setCreated({ name: key.name, value: key.value });
      setName('');
      onCreated();
    });
  };
  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.value);
      setCopied('Copied.');
    } catch {
      setCopied('The browser refused the clipboard: select the key and copy it by hand.');
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-key-title">
      <h2 id="create-key-title">New API key</h2>
      {created && (
        <div class="notice" role="status">
          <p>
            The key <strong>{created.name}</strong> is shown this once; the platform keeps only its hash.
          </p>
          <p>
            <code id="new-key-value">{created.value}</code>
          </p>
          <button type="button" onClick={copy}>
            Copy
          </button>{' '}
          <span class="muted">{copied}</span>
        </div>
      )}
      <div class="form-grid">
        <Field label="Name" hint="Unique among your keys">
          <input name="name" required maxLength={128} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Expires (optional)" hint="Empty: never">
          <input name="expiresAt" type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />
        </Field>
      </div>
      <fieldset>
        <legend>Permissions</legend>
        <div class="form-grid">
          {PERMISSIONS.map((p) => (
            <label key={p}>
              <input type="checkbox" name="permission" value={p} checked={perms.has(p)} onChange={() => toggle(p)} /> {p}
            </label>
          ))}
        </div>
      </fieldset>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <button type="submit" class="primary" disabled={action.busy || !name.trim()}>
        Create key
      </button>
    </form>
  );
}
