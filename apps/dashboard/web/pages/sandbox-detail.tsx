import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { navigate } from '../router.js';
import { SANDBOX_TABS } from '../sandbox-tabs/index.js';
import type { Sandbox } from '../types.js';
import { ErrorBanner, Field, Labels, Loading, Page, StateBadge, formatDate } from '../ui.js';

/** Labels are edited as `key=value` lines: the form people type in a terminal, and no JSON to get wrong. */
export function labelLines(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

export function parseLabelLines(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`Labels are key=value lines; "${line}" has no key`);
    labels[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return labels;
}

/**
 * Which lifecycle calls the API accepts in a state (the rules of SandboxService.start/stop/archive/remove): offering a
 * button the API would refuse only produces an error banner.
 */
export function allowedActions(sb: Sandbox): { start: boolean; stop: boolean; archive: boolean; remove: boolean } {
  const settled = sb.state === sb.desiredState || (sb.desiredState === 'archived' && sb.state === 'stopped');
  return {
    start: settled && (sb.state === 'stopped' || sb.state === 'archived'),
    stop: sb.state === 'started' && sb.desiredState === 'started',
    archive: sb.state === 'stopped' && sb.desiredState === 'stopped' && sb.autoDeleteInterval !== 0,
    // Deleting again retries a destroy that ended in error; otherwise one already under way is left alone.
    remove: sb.state !== 'destroyed' && (sb.desiredState !== 'destroyed' || sb.state === 'error'),
  };
}

export function SandboxActions({ sandbox, onDone, onDeleted }: { sandbox: Sandbox; onDone: () => void; onDeleted?: () => void }) {
  const action = useAction();
  const allowed = allowedActions(sandbox);
  const path = `/sandbox/${encodeURIComponent(sandbox.id)}`;
  const call = (method: string, suffix: string) => action.run(() => api(method, `${path}${suffix}`)).then(onDone);
  const remove = async () => {
    if (!confirm(`Delete sandbox ${sandbox.id}? Its files are gone for good.`)) return;
    if (await action.run(() => api('DELETE', path))) (onDeleted ?? onDone)();
  };
  return (
    <span class="actions">
      <button disabled={action.busy || !allowed.start} onClick={() => call('POST', '/start')} aria-label={`Start ${sandbox.id}`}>
        Start
      </button>
      <button disabled={action.busy || !allowed.stop} onClick={() => call('POST', '/stop')} aria-label={`Stop ${sandbox.id}`}>
        Stop
      </button>
      <button disabled={action.busy || !allowed.archive} onClick={() => call('POST', '/archive')} aria-label={`Archive ${sandbox.id}`}>
        Archive
      </button>
      <button class="danger" disabled={action.busy || !allowed.remove} onClick={remove} aria-label={`Delete ${sandbox.id}`}>
        Delete
      </button>
      {action.error && <ErrorBanner error={action.error} onClose={action.clear} />}
    </span>
  );
}

export function SandboxDetail({ id, tab }: { id: string; tab: string | undefined }) {
  const path = `/sandbox/${encodeURIComponent(id)}`;
  const sb = usePoll(() => api<Sandbox>('GET', path), 3000, [id]);
  const base = `#/sandboxes/${encodeURIComponent(id)}`;
  const current = SANDBOX_TABS.find((t) => t.id === tab);
  const sandbox = sb.data;
  return (
    <Page
      title={`Sandbox ${id}`}
      actions={sandbox && <SandboxActions sandbox={sandbox} onDone={sb.reload} onDeleted={() => navigate('/sandboxes')} />}
    >
      <p>
        <a href="#/sandboxes">← All sandboxes</a>
      </p>
      <ErrorBanner error={sb.error} />
      <div class="tabs" role="navigation" aria-label="Sandbox views">
        <a href={base} aria-current={current ? undefined : 'page'}>
          Overview
        </a>
        {SANDBOX_TABS.map((t) => (
          <a key={t.id} href={`${base}/${encodeURIComponent(t.id)}`} aria-current={t === current ? 'page' : undefined}>
            {t.title}
          </a>
        ))}
      </div>
      {!sandbox ? (
        sb.loading && <Loading what="the sandbox" />
      ) : current ? (
        <current.component sandbox={sandbox} />
      ) : (
        <Overview sandbox={sandbox} reload={sb.reload} />
      )}
    </Page>
  );
}

function Overview({ sandbox, reload }: { sandbox: Sandbox; reload: () => void }) {
  const envKeys = Object.keys(sandbox.env ?? {});
  return (
    <>
      <div class="card">
        <h2>Status</h2>
        <dl class="kv">
          <dt>State</dt>
          <dd>
            <StateBadge state={sandbox.state} />
            {sandbox.desiredState && sandbox.desiredState !== sandbox.state && <span class="muted"> → {sandbox.desiredState}</span>}
          </dd>
          {sandbox.errorReason && (
            <>
              <dt>Error</dt>
              <dd style={{ color: 'var(--danger)' }}>{sandbox.errorReason}</dd>
            </>
          )}
          <dt>Snapshot</dt>
          <dd>{sandbox.snapshot ?? '—'}</dd>
          <dt>Runner</dt>
          <dd>{sandbox.runnerDomain ?? '—'}</dd>
          <dt>Region</dt>
          <dd>{sandbox.target}</dd>
          <dt>User</dt>
          <dd>{sandbox.user}</dd>
          <dt>Backup</dt>
          <dd>{sandbox.backupState ?? '—'}</dd>
          <dt>Created</dt>
          <dd>{formatDate(sandbox.createdAt)}</dd>
          <dt>Updated</dt>
          <dd>{formatDate(sandbox.updatedAt)}</dd>
        </dl>
      </div>
      <div class="card">
        <h2>Resources</h2>
        <dl class="kv">
          <dt>CPU</dt>
          <dd>{sandbox.cpu}</dd>
          <dt>GPU</dt>
          <dd>{sandbox.gpu}</dd>
          <dt>Memory</dt>
          <dd>{sandbox.memory} GiB</dd>
          <dt>Disk</dt>
          <dd>{sandbox.disk} GiB</dd>
          <dt>Volumes</dt>
          <dd>
            {sandbox.volumes?.length
              ? sandbox.volumes.map((v) => (
                  <div key={`${v.volumeId}:${v.mountPath}`}>
                    {v.volumeId} → {v.mountPath}
                    {v.subpath ? ` (${v.subpath})` : ''}
                  </div>
                ))
              : '—'}
          </dd>
          <dt>Environment</dt>
          <dd>{envKeys.length ? envKeys.join(', ') : '—'}</dd>
        </dl>
        <p class="muted">Environment values are not shown: they often hold secrets.</p>
      </div>
      <LabelsEditor sandbox={sandbox} reload={reload} />
      <Intervals sandbox={sandbox} reload={reload} />
      <Network sandbox={sandbox} reload={reload} />
      <PreviewLink sandbox={sandbox} />
    </>
  );
}

function LabelsEditor({ sandbox, reload }: { sandbox: Sandbox; reload: () => void }) {
  // The draft exists only while the user edits, so polling keeps the shown labels current until then.
  const [draft, setDraft] = useState<string>();
  const action = useAction();
  const save = async (e: Event) => {
    e.preventDefault();
    const text = draft ?? labelLines(sandbox.labels);
    const ok = await action.run(() => api('PUT', `/sandbox/${encodeURIComponent(sandbox.id)}/labels`, { labels: parseLabelLines(text) }));
    if (ok) {
      setDraft(undefined);
      reload();
    }
  };
  return (
    <form class="card" onSubmit={save}>
      <h2>Labels</h2>
      <p>
        <Labels labels={sandbox.labels} />
      </p>
      <Field label="Labels (key=value, one a line)">
        <textarea rows={3} value={draft ?? labelLines(sandbox.labels)} onInput={(e) => setDraft(e.currentTarget.value)} />
      </Field>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy || draft === undefined}>
          Save labels
        </button>
        {draft !== undefined && (
          <button type="button" onClick={() => setDraft(undefined)}>
            Discard
          </button>
        )}
      </div>
    </form>
  );
}

const INTERVALS = [
  { key: 'autoStopInterval', route: 'autostop', label: 'Auto-stop after (minutes idle, 0 = never)' },
  { key: 'autoArchiveInterval', route: 'autoarchive', label: 'Auto-archive after (minutes stopped, 0 = the maximum)' },
  { key: 'autoDeleteInterval', route: 'autodelete', label: 'Auto-delete after (minutes stopped, -1 = never, 0 = on stop)' },
] as const;

function Intervals({ sandbox, reload }: { sandbox: Sandbox; reload: () => void }) {
  const [drafts, setDrafts] = useState<Partial<Record<(typeof INTERVALS)[number]['key'], string>>>({});
  const action = useAction();
  const save = async (item: (typeof INTERVALS)[number]) => {
    const raw = (drafts[item.key] ?? '').trim();
    const ok = await action.run(async () => {
      if (!/^-?\d+$/.test(raw)) throw new Error(`${item.label.split(' (')[0]}: a whole number of minutes`);
      await api('POST', `/sandbox/${encodeURIComponent(sandbox.id)}/${item.route}/${raw}`);
    });
    if (ok) {
      setDrafts((d) => ({ ...d, [item.key]: undefined }));
      reload();
    }
  };
  return (
    <div class="card">
      <h2>Lifecycle</h2>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <div class="form-grid">
        {INTERVALS.map((item) => {
          const draft = drafts[item.key];
          return (
            <form
              key={item.key}
              onSubmit={(e) => {
                e.preventDefault();
                void save(item);
              }}
            >
              <Field label={item.label}>
                <input
                  type="number"
                  step={1}
                  value={draft ?? String(sandbox[item.key] ?? '')}
                  onInput={(e) => setDrafts((d) => ({ ...d, [item.key]: e.currentTarget.value }))}
                />
              </Field>
              <button type="submit" disabled={action.busy || draft === undefined}>
                Save
              </button>
            </form>
          );
        })}
      </div>
    </div>
  );
}

function Network({ sandbox, reload }: { sandbox: Sandbox; reload: () => void }) {
  const action = useAction();
  const togglePublic = async () => {
    if (await action.run(() => api('POST', `/sandbox/${encodeURIComponent(sandbox.id)}/public/${!sandbox.public}`))) reload();
  };
  return (
    <div class="card">
      <h2>Network</h2>
      <dl class="kv">
        <dt>Outbound traffic</dt>
        <dd>{sandbox.networkBlockAll ? 'blocked (networkBlockAll)' : sandbox.networkAllowList ? 'only the allow list' : 'allowed'}</dd>
        <dt>Allow list</dt>
        <dd>{sandbox.networkAllowList || '—'}</dd>
        <dt>Preview links</dt>
        <dd>{sandbox.public ? 'public: no token needed' : 'private: the token is needed'}</dd>
      </dl>
      <p class="muted">The network policy is set when the sandbox is created.</p>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <button onClick={togglePublic} disabled={action.busy}>
        {sandbox.public ? 'Make previews private' : 'Make previews public'}
      </button>
    </div>
  );
}

function PreviewLink({ sandbox }: { sandbox: Sandbox }) {
  const [port, setPort] = useState('3000');
  const [link, setLink] = useState<{ url: string; token: string; port: string }>();
  const action = useAction();
  const get = async (e: Event) => {
    e.preventDefault();
    await action.run(async () => setLink({ ...(await api<{ url: string; token: string }>('GET', `/sandbox/${encodeURIComponent(sandbox.id)}/ports/${encodeURIComponent(port)}/preview-url`)), port }));
  };
  // Only http(s) links become anchors: an href is the one place a value could turn into script.
  const safeUrl = link && /^https?:\/\//i.test(link.url) ? link.url : undefined;
  return (
    <form class="card" onSubmit={get}>
      <h2>Preview link</h2>
      <div class="filters">
        <Field label="Port">
          <input type="number" min={1} max={65535} value={port} onInput={(e) => setPort(e.currentTarget.value)} required />
        </Field>
        <button type="submit" disabled={action.busy}>
          Get link
        </button>
      </div>
      <ErrorBanner error={action.error} onClose={action.clear} />
      {link && (
        <dl class="kv">
          <dt>URL (port {link.port})</dt>
          <dd>
            {safeUrl ? (
              <a href={safeUrl} target="_blank" rel="noopener noreferrer">
                {link.url}
              </a>
            ) : (
              link.url
            )}
          </dd>
          <dt>Token</dt>
          <dd class="mono">{link.token}</dd>
        </dl>
      )}
      {link && !sandbox.public && <p class="muted">Send the token as the x-daytona-preview-token header (the sandbox is private).</p>}
    </form>
  );
}
