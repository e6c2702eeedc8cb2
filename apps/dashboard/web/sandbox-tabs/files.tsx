import { useEffect, useRef, useState } from 'preact/hooks';
import { api, apiFetch } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Field, formatBytes, formatDate, Loading } from '../ui.js';
import { toolboxPath, withQuery } from './toolbox.js';
import type { SandboxTabProps } from './index.js';

interface FileInfo {
  name: string;
  isDir: boolean;
  size: number;
  modTime: string;
  mode: string;
  permissions?: string;
  owner?: string;
  group?: string;
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

function parent(dir: string): string {
  const trimmed = dir.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i <= 0 ? '/' : trimmed.slice(0, i);
}

/** Breadcrumbs: each folder of the path is a button back to it. */
function Crumbs({ path, go }: { path: string; go: (p: string) => void }) {
  const parts = path.split('/').filter(Boolean);
  return (
    <nav class="crumbs" aria-label="Folder path">
      <button class="link" onClick={() => go('/')}>
        /
      </button>
      {parts.map((p, i) => (
        <span key={i}>
          <button class="link" onClick={() => go(`/${parts.slice(0, i + 1).join('/')}`)} aria-current={i === parts.length - 1 ? 'location' : undefined}>
            {p}
          </button>
          {i < parts.length - 1 ? '/' : ''}
        </span>
      ))}
    </nav>
  );
}

function FileBrowser({ sandboxId, home }: { sandboxId: string; home: string }) {
  const [path, setPath] = useState(home);
  const [jump, setJump] = useState(home);
  const [folder, setFolder] = useState('');
  const [notice, setNotice] = useState<string>();
  const action = useAction();
  const upload = useRef<HTMLInputElement>(null);
  const tb = (p: string, q: Record<string, string | undefined>) => withQuery(toolboxPath(sandboxId, p), q);
  const list = usePoll(() => api<FileInfo[]>('GET', tb('files', { path })), 5000, [sandboxId, path]);

  const go = (p: string) => {
    setPath(p);
    setJump(p);
    setNotice(undefined);
    action.clear();
  };

  const entries = [...(list.data ?? [])].sort((a, b) => (a.isDir === b.isDir ? a.name.localeCompare(b.name) : a.isDir ? -1 : 1));

  const onUpload = async () => {
    const files = [...(upload.current?.files ?? [])];
    if (files.length === 0) return;
    const ok = await action.run(async () => {
      // The toolbox's bulk upload: each file part follows the field naming its destination.
      const form = new FormData();
      files.forEach((f, i) => {
        form.append(`files[${i}].path`, join(path, f.name));
        form.append(`files[${i}].file`, f, f.name);
      });
      await apiFetch(toolboxPath(sandboxId, 'files/bulk-upload'), { method: 'POST', body: form });
    });
    if (upload.current) upload.current.value = '';
    if (ok) setNotice(`Uploaded ${files.map((f) => f.name).join(', ')}`);
    list.reload();
  };

  const download = (f: FileInfo) =>
    action.run(async () => {
      const res = await apiFetch(tb('files/download', { path: join(path, f.name) }));
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = f.name;
      a.rel = 'noopener';
      document.body.appendChild(a);
      a.click();
      a.remove();
      // Revoked later: the download has to start reading the blob first.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    });

  const remove = async (f: FileInfo) => {
    if (!confirm(`Delete ${f.isDir ? 'the folder' : 'the file'} ${join(path, f.name)}${f.isDir ? ' and everything in it' : ''}?`)) return;
    const ok = await action.run(() => apiFetch(tb('files', { path: join(path, f.name), ...(f.isDir ? { recursive: 'true' } : {}) }), { method: 'DELETE' }));
    if (ok) setNotice(`Deleted ${f.name}`);
    list.reload();
  };

  const createFolder = async (e: Event) => {
    e.preventDefault();
    const name = folder.trim();
    if (!name) return;
    const target = name.startsWith('/') ? name : join(path, name);
    const ok = await action.run(() => apiFetch(tb('files/folder', { path: target, mode: '755' }), { method: 'POST' }));
    if (ok) {
      setFolder('');
      setNotice(`Created ${target}`);
    }
    list.reload();
  };

  return (
    <div class="files-tab">
      <div class="filters">
        <button onClick={() => go(parent(path))} disabled={path === '/'} aria-label="Up to the parent folder">
          ↑ Up
        </button>
        <button onClick={() => go(home)}>Home</button>
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (jump.trim()) go(jump.trim());
          }}
        >
          <Field label="Path">
            <input type="text" value={jump} onInput={(e) => setJump(e.currentTarget.value)} spellcheck={false} />
          </Field>
          <button type="submit">Go</button>
        </form>
        <button onClick={list.reload} disabled={list.loading}>
          Refresh
        </button>
      </div>
      <Crumbs path={path} go={go} />
      <div class="card">
        <div class="inline-form">
          <Field label="Upload files to this folder">
            <input type="file" multiple ref={upload} onChange={onUpload} disabled={action.busy} data-testid="upload" />
          </Field>
          <form class="inline-form" onSubmit={createFolder}>
            <Field label="New folder">
              <input type="text" value={folder} onInput={(e) => setFolder(e.currentTarget.value)} placeholder="name" spellcheck={false} />
            </Field>
            <button type="submit" disabled={action.busy || !folder.trim()}>
              Create folder
            </button>
          </form>
        </div>
      </div>
      <ErrorBanner error={action.error ?? list.error} onClose={action.error ? action.clear : undefined} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {list.data === undefined && !list.error ? (
        <Loading what="files" />
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Files in {path}</caption>
            <thead>
              <tr>
                <th>Name</th>
                <th>Size</th>
                <th class="optional">Modified</th>
                <th class="optional">Mode</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {entries.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted">
                    This folder is empty.
                  </td>
                </tr>
              )}
              {entries.map((f) => (
                <tr key={f.name} data-file={f.name}>
                  <td class="file-name">
                    {f.isDir ? (
                      <button class="link" onClick={() => go(join(path, f.name))}>
                        📁 {f.name}/
                      </button>
                    ) : (
                      <span>{f.name}</span>
                    )}
                  </td>
                  <td>{f.isDir ? '—' : formatBytes(f.size)}</td>
                  <td class="optional">{formatDate(f.modTime)}</td>
                  <td class="optional mono">{f.permissions ?? f.mode}</td>
                  <td>
                    <span class="row-actions">
                      {!f.isDir && (
                        <button onClick={() => download(f)} disabled={action.busy} aria-label={`Download ${f.name}`}>
                          Download
                        </button>
                      )}
                      <button class="danger" onClick={() => remove(f)} disabled={action.busy} aria-label={`Delete ${f.name}`}>
                        Delete
                      </button>
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function FilesTab({ sandbox }: SandboxTabProps) {
  const [home, setHome] = useState<string>();
  const [error, setError] = useState<string>();
  const started = sandbox.state === 'started';
  useEffect(() => {
    if (!started) return;
    setError(undefined);
    // Asked again every 2 s until it answers: one failed request (a toolbox busy starting, a proxy hiccup) must not
    // leave the tab on an error until the page is reloaded.
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const ask = () =>
      api<{ dir: string }>('GET', toolboxPath(sandbox.id, 'user-home-dir'))
        .then((r) => {
          if (stopped) return;
          setError(undefined);
          setHome(r.dir || '/');
        })
        .catch((e: Error) => {
          if (stopped) return;
          setError(`${e.message} (asking again)`);
          retry = setTimeout(ask, 2000);
        });
    void ask();
    return () => {
      stopped = true;
      clearTimeout(retry);
    };
  }, [sandbox.id, started]);
  if (!started) {
    return (
      <p class="notice">
        Files can be browsed while the sandbox is started; this one is <strong>{sandbox.state ?? 'unknown'}</strong>.
      </p>
    );
  }
  if (!home) return error ? <ErrorBanner error={error} /> : <Loading what="the home folder" />;
  return <FileBrowser key={sandbox.id} sandboxId={sandbox.id} home={home} />;
}
