import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import type { Paginated, Sandbox } from '../types.js';
import { ErrorBanner, Field, Labels, Loading, Page, StateBadge, formatDate } from '../ui.js';
import type { PageProps } from './index.js';
import { SandboxActions, SandboxDetail, parseLabelLines } from './sandbox-detail.js';

const PAGE_SIZE = 20;

/** The states a filter can ask for (SANDBOX_STATES of @shoal/contracts, minus `destroyed`, which the list leaves out). */
const STATES = [
  'started',
  'stopped',
  'archived',
  'creating',
  'starting',
  'stopping',
  'archiving',
  'restoring',
  'destroying',
  'pulling_snapshot',
  'pending_build',
  'building_snapshot',
  'build_failed',
  'error',
  'unknown',
];

interface Snapshot {
  id: string;
  name: string;
  state: string;
  general: boolean;
}

export function SandboxesPage({ args }: PageProps) {
  if (args[0]) return <SandboxDetail id={args[0]} tab={args[1]} />;
  return <SandboxList />;
}

/** `key=value` in the filter box; anything else is the user's mistake, reported instead of silently ignored. */
function labelFilter(text: string): string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return JSON.stringify(parseLabelLines(t.replace(/\s*,\s*/g, '\n')));
}

function SandboxList() {
  const [page, setPage] = useState(1);
  const [state, setState] = useState('');
  const [labelText, setLabelText] = useState('');
  const [labelApplied, setLabelApplied] = useState('');
  const [filterError, setFilterError] = useState<string>();
  const [creating, setCreating] = useState(false);
  const list = usePoll(
    () => {
      const q = new URLSearchParams({ page: String(page), limit: String(PAGE_SIZE) });
      if (state) q.set('states', state);
      const labels = labelFilter(labelApplied);
      if (labels) q.set('labels', labels);
      return api<Paginated<Sandbox>>('GET', `/sandbox/paginated?${q}`);
    },
    3000,
    [page, state, labelApplied],
  );
  const applyLabel = (e: Event) => {
    e.preventDefault();
    try {
      labelFilter(labelText);
      setFilterError(undefined);
      setPage(1);
      setLabelApplied(labelText);
    } catch (err) {
      setFilterError((err as Error).message);
    }
  };
  const data = list.data;
  return (
    <Page
      title="Sandboxes"
      actions={
        <button class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
          {creating ? 'Close form' : 'New sandbox'}
        </button>
      }
    >
      {creating && <CreateSandbox onCreated={list.reload} />}
      <form class="filters" onSubmit={applyLabel} aria-label="Filters">
        <Field label="State">
          <select
            name="state"
            value={state}
            onChange={(e) => {
              setState(e.currentTarget.value);
              setPage(1);
            }}
          >
            <option value="">Any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Label">
          <input name="label" placeholder="key=value" value={labelText} onInput={(e) => setLabelText(e.currentTarget.value)} />
        </Field>
        <button type="submit">Filter</button>
        {labelApplied && (
          <button
            type="button"
            class="link"
            onClick={() => {
              setLabelText('');
              setLabelApplied('');
              setPage(1);
            }}
          >
            Clear label filter
          </button>
        )}
      </form>
      <ErrorBanner error={filterError ?? list.error} />
      {!data ? (
        list.loading && <Loading what="sandboxes" />
      ) : data.items.length === 0 ? (
        <p class="muted">{state || labelApplied ? 'No sandbox matches the filters.' : 'No sandboxes yet. Create one with "New sandbox" or the SDK.'}</p>
      ) : (
        <div class="table-wrap">
          <table id="sandboxes">
            <thead>
              <tr>
                <th>State</th>
                <th>ID</th>
                <th>Labels</th>
                <th class="optional">Snapshot</th>
                <th class="optional">CPU / memory / disk</th>
                <th class="optional">Created</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((sb) => (
                <tr key={sb.id} data-sandbox-id={sb.id}>
                  <td>
                    <StateBadge state={sb.state} />
                    {sb.desiredState && sb.desiredState !== sb.state && <div class="muted">→ {sb.desiredState}</div>}
                  </td>
                  <td class="wrap mono">
                    <a href={`#/sandboxes/${encodeURIComponent(sb.id)}`}>{sb.id}</a>
                  </td>
                  <td class="wrap">
                    <Labels labels={sb.labels} />
                  </td>
                  <td class="optional wrap">{sb.snapshot ?? '—'}</td>
                  <td class="optional">
                    {sb.cpu} CPU · {sb.memory} GiB · {sb.disk} GiB
                  </td>
                  <td class="optional">{formatDate(sb.createdAt)}</td>
                  <td>
                    <SandboxActions sandbox={sb} onDone={list.reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && data.totalPages > 1 && (
        <div class="pager" role="navigation" aria-label="Pages of sandboxes">
          <button disabled={page <= 1} onClick={() => setPage(page - 1)}>
            Previous
          </button>
          <span>
            Page {data.page} of {data.totalPages} ({data.total} sandboxes)
          </span>
          <button disabled={page >= data.totalPages} onClick={() => setPage(page + 1)}>
            Next
          </button>
        </div>
      )}
      {data && data.totalPages <= 1 && data.total > 0 && <p class="muted">{data.total === 1 ? '1 sandbox' : `${data.total} sandboxes`}</p>}
    </Page>
  );
}

const optionalInt = (raw: string, what: string): number | undefined => {
  const t = raw.trim();
  if (!t) return undefined;
  if (!/^\d+$/.test(t)) throw new Error(`${what} must be a whole number`);
  return Number(t);
};

function CreateSandbox({ onCreated }: { onCreated: () => void }) {
  const [snapshots, setSnapshots] = useState<Snapshot[]>();
  const [snapshotsError, setSnapshotsError] = useState<string>();
  const [snapshot, setSnapshot] = useState('');
  const [labels, setLabels] = useState('');
  const [cpu, setCpu] = useState('');
  const [memory, setMemory] = useState('');
  const [disk, setDisk] = useState('');
  const [autoStop, setAutoStop] = useState('');
  const [created, setCreated] = useState<Sandbox>();
  const action = useAction();
  useEffect(() => {
    api<Paginated<Snapshot>>('GET', '/snapshots?limit=200&sort=name&order=asc')
      .then((p) => setSnapshots(p.items.filter((s) => s.state === 'active')))
      .catch((e: Error) => setSnapshotsError(e.message));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setCreated(undefined);
    await action.run(async () => {
      const body: Record<string, unknown> = { labels: parseLabelLines(labels) };
      if (snapshot) body.snapshot = snapshot;
      const n = { cpu: optionalInt(cpu, 'CPU'), memory: optionalInt(memory, 'Memory'), disk: optionalInt(disk, 'Disk'), autoStopInterval: optionalInt(autoStop, 'Auto-stop') };
      for (const [k, v] of Object.entries(n)) if (v !== undefined) body[k] = v;
      setCreated(await api<Sandbox>('POST', '/sandbox', body));
      onCreated();
    });
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New sandbox</h2>
      <div class="form-grid">
        <Field label="Snapshot" hint={snapshotsError ? `Snapshots could not be listed: ${snapshotsError}` : 'Empty: the default snapshot'}>
          <select name="snapshot" value={snapshot} onChange={(e) => setSnapshot(e.currentTarget.value)}>
            <option value="">Default</option>
            {snapshots?.map((s) => (
              <option key={s.id} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="CPU (cores)" hint="Empty: the snapshot's">
          <input name="cpu" type="number" min={1} value={cpu} onInput={(e) => setCpu(e.currentTarget.value)} />
        </Field>
        <Field label="Memory (GiB)" hint="Empty: the snapshot's">
          <input name="memory" type="number" min={1} value={memory} onInput={(e) => setMemory(e.currentTarget.value)} />
        </Field>
        <Field label="Disk (GiB)" hint="Empty: the snapshot's">
          <input name="disk" type="number" min={1} value={disk} onInput={(e) => setDisk(e.currentTarget.value)} />
        </Field>
        <Field label="Auto-stop (minutes idle)" hint="Empty: the platform's default; 0: never">
          <input name="autoStopInterval" type="number" min={0} value={autoStop} onInput={(e) => setAutoStop(e.currentTarget.value)} />
        </Field>
      </div>
      <Field label="Labels (key=value, one a line)">
        <textarea name="labels" rows={3} value={labels} onInput={(e) => setLabels(e.currentTarget.value)} />
      </Field>
      <ErrorBanner error={action.error} onClose={action.clear} />
      {created && (
        <p class="notice" role="status">
          Created <a href={`#/sandboxes/${encodeURIComponent(created.id)}`}>{created.id}</a> ({created.state}).
        </p>
      )}
      <button type="submit" class="primary" disabled={action.busy}>
        {action.busy ? 'Creating…' : 'Create'}
      </button>
    </form>
  );
}
