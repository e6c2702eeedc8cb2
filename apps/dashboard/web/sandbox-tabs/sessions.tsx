import { useState } from 'preact/hooks';
import { api, apiFetch } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Field, Loading } from '../ui.js';
import { demuxLog, toolboxPath } from './toolbox.js';
import type { SandboxTabProps } from './index.js';

interface SessionCommand {
  id: string;
  command: string;
  exitCode?: number | null;
}

interface Session {
  sessionId: string;
  commands: SessionCommand[] | null;
}

const enc = encodeURIComponent;

/** A command's output, polled while it runs (the toolbox leaves exitCode out until it has exited). */
function CommandLogs({ sandboxId, sessionId, command }: { sandboxId: string; sessionId: string; command: SessionCommand }) {
  const running = command.exitCode === undefined || command.exitCode === null;
  const base = toolboxPath(sandboxId, `process/session/${enc(sessionId)}/command/${enc(command.id)}`);
  const logs = usePoll(async () => (await apiFetch(`${base}/logs`)).text(), running ? 1000 : 0, [base, running]);
  const parts = demuxLog(logs.data ?? '');
  return (
    <div class="card" data-command={command.id}>
      <h2>
        <code>{command.command}</code>
      </h2>
      <p class="muted" role="status">
        {running ? 'Running…' : `Exited with code ${command.exitCode}`}
      </p>
      <ErrorBanner error={logs.error} />
      {logs.data === undefined && !logs.error ? (
        <Loading what="logs" />
      ) : (
        <pre class="logs" aria-label="Command output" data-testid="command-logs">
          {parts.length === 0 ? <span class="muted">(no output)</span> : parts.map((p, i) => (p.stream === 'stderr' ? <span class="stderr" key={i}>{p.text}</span> : p.text))}
        </pre>
      )}
    </div>
  );
}

function SessionView({ sandboxId, session, onChange }: { sandboxId: string; session: Session; onChange: () => void }) {
  const [command, setCommand] = useState('');
  const [selected, setSelected] = useState<string>();
  const action = useAction();
  const commands = session.commands ?? [];
  const current = commands.find((c) => c.id === selected) ?? commands[commands.length - 1];

  const run = async (e: Event) => {
    e.preventDefault();
    if (!command.trim()) return;
    await action.run(async () => {
      const res = await api<{ cmdId: string }>('POST', toolboxPath(sandboxId, `process/session/${enc(session.sessionId)}/exec`), { command, runAsync: true });
      setSelected(res.cmdId);
      setCommand('');
      onChange();
    });
  };

  return (
    <section aria-labelledby="session-title">
      <h2 id="session-title" class="mono">
        {session.sessionId}
      </h2>
      <form class="inline-form" onSubmit={run}>
        <Field label="Run a command in this session">
          <input type="text" value={command} onInput={(e) => setCommand(e.currentTarget.value)} placeholder="e.g. ls -la" spellcheck={false} autoComplete="off" />
        </Field>
        <button type="submit" class="primary" disabled={action.busy || !command.trim()}>
          Run
        </button>
      </form>
      <ErrorBanner error={action.error} onClose={action.clear} />
      {commands.length === 0 ? (
        <p class="muted">No commands yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Command</th>
                <th>Exit code</th>
              </tr>
            </thead>
            <tbody>
              {commands.map((c) => (
                <tr key={c.id}>
                  <td class="wrap">
                    <button class="link mono" aria-pressed={c === current} onClick={() => setSelected(c.id)}>
                      {c.command}
                    </button>
                  </td>
                  <td>{c.exitCode ?? <span class="muted">running</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {current && <CommandLogs key={current.id} sandboxId={sandboxId} sessionId={session.sessionId} command={current} />}
    </section>
  );
}

function Sessions({ sandboxId }: { sandboxId: string }) {
  const [selected, setSelected] = useState<string>();
  const [name, setName] = useState('');
  const action = useAction();
  const list = usePoll(() => api<Session[]>('GET', toolboxPath(sandboxId, 'process/session')), 2000, [sandboxId]);
  const sessions = [...(list.data ?? [])].sort((a, b) => a.sessionId.localeCompare(b.sessionId));
  const current = sessions.find((s) => s.sessionId === selected);

  const create = async (e: Event) => {
    e.preventDefault();
    const id = name.trim();
    if (!id) return;
    const ok = await action.run(() => api('POST', toolboxPath(sandboxId, 'process/session'), { sessionId: id }));
    if (ok) {
      setName('');
      setSelected(id);
    }
    list.reload();
  };

  const remove = async (id: string) => {
    if (!confirm(`Delete the session ${id}? Its running commands are ended.`)) return;
    const ok = await action.run(() => api('DELETE', toolboxPath(sandboxId, `process/session/${enc(id)}`)));
    if (ok && selected === id) setSelected(undefined);
    list.reload();
  };

  return (
    <div class="sessions-tab">
      <form class="inline-form" onSubmit={create}>
        <Field label="New session id">
          <input type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. build" spellcheck={false} autoComplete="off" />
        </Field>
        <button type="submit" disabled={action.busy || !name.trim()}>
          Create session
        </button>
      </form>
      <ErrorBanner error={action.error ?? list.error} onClose={action.error ? action.clear : undefined} />
      {list.data === undefined && !list.error ? (
        <Loading what="sessions" />
      ) : (
        <div class="sessions-grid">
          <div class="card">
            <h2>Sessions</h2>
            {sessions.length === 0 ? (
              <p class="muted">No sessions. Create one to run commands that share a shell (cwd, variables).</p>
            ) : (
              <ul>
                {sessions.map((s) => (
                  <li key={s.sessionId}>
                    <button class="link mono" aria-pressed={s.sessionId === selected} onClick={() => setSelected(s.sessionId)}>
                      {s.sessionId}
                    </button>
                    <span class="muted">{(s.commands ?? []).length} cmd</span>
                    <button class="danger" onClick={() => remove(s.sessionId)} disabled={action.busy} aria-label={`Delete session ${s.sessionId}`}>
                      Delete
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </div>
          <div>{current ? <SessionView key={current.sessionId} sandboxId={sandboxId} session={current} onChange={list.reload} /> : <p class="muted">Select a session.</p>}</div>
        </div>
      )}
    </div>
  );
}

export function SessionsTab({ sandbox }: SandboxTabProps) {
  if (sandbox.state !== 'started') {
    return (
      <p class="notice">
        Sessions live in a started sandbox; this one is <strong>{sandbox.state ?? 'unknown'}</strong>.
      </p>
    );
  }
  return <Sessions key={sandbox.id} sandboxId={sandbox.id} />;
}
