import { useEffect, useRef, useState } from 'preact/hooks';
import { api, apiFetch } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import type { Paginated } from '../types.js';
import { ErrorBanner, Field, Loading, Page, StateBadge, formatBytes, formatDate } from '../ui.js';
import type { PageProps } from './index.js';

// GET /snapshots (SnapshotDto, paginated), POST /snapshots, /snapshots/{id}/activate|deactivate, DELETE, build-logs.

export interface Snapshot {
  id: string;
  organizationId?: string;
  general: boolean;
  name: string;
  imageName?: string;
  state: string;
  size: number | null;
  cpu: number;
  gpu: number;
  mem: number;
  disk: number;
  errorReason: string | null;
  createdAt: string;
  updatedAt: string;
  lastUsedAt: string | null;
}

const PAGE_SIZE = 20;
/** Error reasons hold long unbroken image references. */
const BREAK = { overflowWrap: 'anywhere' } as const;
/** States a snapshot leaves on its own; while in another one its log is still being written. */
const SETTLED = new Set(['active', 'inactive', 'error', 'build_failed']);

export function SnapshotsPage({ args }: PageProps) {
  const [page, setPage] = useState(1);
  const [name, setName] = useState('');
  const [showCreate, setShowCreate] = useState(false);
  const action = useAction();
  const list = usePoll(
    () => api<Paginated<Snapshot>>('GET', `/snapshots?${new URLSearchParams({ page: String(page), limit: String(PAGE_SIZE), sort: 'createdAt', order: 'desc', ...(name.trim() ? { name: name.trim() } : {}) })}`),
    5000,
    [page, name],
  );
  const logsFor = args[0] === 'logs' ? args[1] : undefined;

  const act = (fn: () => Promise<unknown>) => void action.run(fn).then((ok) => ok && list.reload());

  return (
    <Page
      title="Snapshots"
      actions={
        <button class="primary" onClick={() => setShowCreate(!showCreate)} aria-expanded={showCreate}>
          {showCreate ? 'Close' : 'Create snapshot'}
        </button>
      }
    >
      {showCreate && (
        <CreateSnapshot
          onCreated={(s) => {
            setShowCreate(false);
            list.reload();
            location.hash = `#/snapshots/logs/${encodeURIComponent(s.id)}`;
          }}
        />
      )}
      {logsFor && <BuildLogs key={logsFor} id={logsFor} snapshot={list.data?.items.find((s) => s.id === logsFor)} />}
      <div class="filters">
        <Field label="Name contains">
          <input
            type="search"
            value={name}
            onInput={(e) => {
              setName(e.currentTarget.value);
              setPage(1);
            }}
          />
        </Field>
      </div>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <ErrorBanner error={list.error} />
      {!list.data ? (
        list.loading && <Loading what="snapshots" />
      ) : list.data.items.length === 0 ? (
        <p class="muted">No snapshots{name.trim() ? ' match this name' : ''}.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>State</th>
                <th class="optional">Image</th>
                <th class="optional">Size</th>
                <th class="optional">Resources</th>
                <th class="optional">Created</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((s) => (
                <tr key={s.id}>
                  <td class="wrap">
                    {s.name}
                    {s.general && <span class="muted"> (general)</span>}
                  </td>
                  <td>
                    <StateBadge state={s.state} />
                    {s.errorReason && (
                      <div class="muted" style={BREAK} title={s.errorReason}>
                        {s.errorReason.length > 140 ? `${s.errorReason.slice(0, 140)}…` : s.errorReason}
                      </div>
                    )}
                  </td>
                  <td class="optional wrap">{s.imageName ?? '—'}</td>
                  <td class="optional">{s.size === null ? '—' : formatBytes(Math.round(s.size * 1024 ** 3))}</td>
                  <td class="optional">
                    {s.cpu} CPU · {s.mem} GiB · {s.disk} GiB
                  </td>
                  <td class="optional">{formatDate(s.createdAt)}</td>
                  <td>
                    <div class="actions">
                      <a href={`#/snapshots/logs/${encodeURIComponent(s.id)}`}>Logs</a>
                      {s.state === 'inactive' && (
                        <button disabled={action.busy} onClick={() => act(() => api('POST', `/snapshots/${encodeURIComponent(s.id)}/activate`))}>
                          Activate
                        </button>
                      )}
                      {s.state === 'active' && (
                        <button disabled={action.busy} onClick={() => act(() => api('POST', `/snapshots/${encodeURIComponent(s.id)}/deactivate`))}>
                          Deactivate
                        </button>
                      )}
                      <button
                        class="danger"
                        disabled={action.busy || s.state === 'removing'}
                        onClick={() => confirm(`Delete snapshot "${s.name}"?`) && act(() => api('DELETE', `/snapshots/${encodeURIComponent(s.id)}`))}
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
      {list.data && list.data.totalPages > 1 && (
        <nav class="pager" aria-label="Snapshot pages">
          <button disabled={page <= 1} onClick={() => setPage(page - 1)}>
            Previous
          </button>
          <span>
            Page {list.data.page} of {list.data.totalPages} ({list.data.total})
          </span>
          <button disabled={page >= list.data.totalPages} onClick={() => setPage(page + 1)}>
            Next
          </button>
        </nav>
      )}
    </Page>
  );
}

function CreateSnapshot({ onCreated }: { onCreated: (s: Snapshot) => void }) {
  const [name, setName] = useState('');
  const [imageName, setImageName] = useState('');
  const [cpu, setCpu] = useState('');
  const [memory, setMemory] = useState('');
  const [disk, setDisk] = useState('');
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    const num = (v: string) => (v.trim() === '' ? undefined : Number(v));
    const body = { name: name.trim(), imageName: imageName.trim(), cpu: num(cpu), memory: num(memory), disk: num(disk) };
    void action.run(async () => onCreated(await api<Snapshot>('POST', '/snapshots', body)));
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-snapshot-title">
      <h2 id="create-snapshot-title">Create a snapshot from an image</h2>
      <div class="form-grid">
        <Field label="Name">
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={512} />
        </Field>
        <Field label="Image" hint="e.g. python:3.12-slim">
          <input required value={imageName} onInput={(e) => setImageName(e.currentTarget.value)} maxLength={1024} />
        </Field>
        <Field label="CPU (optional)">
          <input type="number" min={0} step={1} value={cpu} onInput={(e) => setCpu(e.currentTarget.value)} />
        </Field>
        <Field label="Memory GiB (optional)">
          <input type="number" min={0} step={1} value={memory} onInput={(e) => setMemory(e.currentTarget.value)} />
        </Field>
        <Field label="Disk GiB (optional)">
          <input type="number" min={0} step={1} value={disk} onInput={(e) => setDisk(e.currentTarget.value)} />
        </Field>
      </div>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <button type="submit" class="primary" disabled={action.busy || !name.trim() || !imageName.trim()}>
        {action.busy ? 'Creating…' : 'Create'}
      </button>
    </form>
  );
}

/**
 * The snapshot's pull/build log. While it is not settled the log is followed (`follow=true` streams until it is); the
 * stream is read chunk by chunk and appended as text. Leaving the page aborts the request, which ends the stream.
 */
function BuildLogs({ id, snapshot: listed }: { id: string; snapshot: Snapshot | undefined }) {
  const [own, setOwn] = useState<Snapshot>();
  // The list polls every 5 s; the log's own reads (at its start and end) can be newer, e.g. the failure that ended it.
  const snapshot = !own ? listed : !listed ? own : listed.updatedAt > own.updatedAt ? listed : own;
  const [text, setText] = useState('');
  const [status, setStatus] = useState<'streaming' | 'done' | 'error'>('streaming');
  const [error, setError] = useState<string>();
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const abort = new AbortController();
    (async () => {
      // The snapshot may not be in the listed page: ask for it, to know whether to follow.
      const snap = await api<Snapshot>('GET', `/snapshots/${encodeURIComponent(id)}`);
      setOwn(snap);
      const follow = !SETTLED.has(snap.state);
      const res = await apiFetch(`/snapshots/${encodeURIComponent(id)}/build-logs${follow ? '?follow=true' : ''}`, { signal: abort.signal });
      if (!res.body) {
        setText(await res.text());
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = decoder.decode(value, { stream: true });
        if (chunk) setText((t) => t + chunk);
      }
      const rest = decoder.decode();
      if (rest) setText((t) => t + rest);
      if (follow) setOwn(await api<Snapshot>('GET', `/snapshots/${encodeURIComponent(id)}`));
    })().then(
      () => !abort.signal.aborted && setStatus('done'),
      (e: unknown) => {
        if (abort.signal.aborted) return;
        setStatus('error');
        setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => abort.abort();
  }, [id]);
  // Keep the newest line in view while following.
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <section class="card" aria-labelledby="build-logs-title">
      <div class="page-head">
        <h2 id="build-logs-title">Build logs of {snapshot?.name ?? id}</h2>
        <a href="#/snapshots">Close</a>
      </div>
      <p class="muted" aria-live="polite">
        {status === 'streaming' ? 'Following the log…' : status === 'done' ? 'End of log.' : 'The log stream failed.'}
        {snapshot && (
          <>
            {' '}
            State: <StateBadge state={snapshot.state} />
          </>
        )}
      </p>
      {snapshot?.errorReason && (
        <p class="muted" style={BREAK}>
          {snapshot.errorReason}
        </p>
      )}
      <ErrorBanner error={error} />
      <pre ref={pre} data-testid="build-logs">
        {text || (status === 'streaming' ? '' : '(empty)')}
      </pre>
    </section>
  );
}
