import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { useAction, usePoll } from '../hooks.js';
import { ErrorBanner, Loading, StateBadge } from '../ui.js';
import { toolboxPath } from './toolbox.js';
import type { SandboxTabProps } from './index.js';

type Status = 'active' | 'partial' | 'inactive' | 'error';

/**
 * noVNC through the preview proxy on the dashboard's own origin (the CSP allows only same-origin frames). The query
 * token opens the first page; the proxy then sets the sandbox's preview cookie, which noVNC's scripts and its
 * WebSocket (`path`, relative to this host) carry.
 */
function vncUrl(sandboxId: string, token: string): string {
  const prefix = `preview/6080-${encodeURIComponent(sandboxId)}`;
  const q = new URLSearchParams({ autoconnect: 'true', resize: 'scale', reconnect: 'true', path: `${prefix}/websockify`, DAYTONA_SANDBOX_AUTH_KEY: token });
  return `/${prefix}/vnc.html?${q.toString()}`;
}

function Viewer({ sandboxId }: { sandboxId: string }) {
  const [src, setSrc] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api<{ url: string; token: string }>('GET', `/sandbox/${encodeURIComponent(sandboxId)}/ports/6080/preview-url`)
      .then((link) => setSrc(vncUrl(sandboxId, link.token)))
      .catch((e: Error) => setError(e.message));
  }, [sandboxId]);
  if (error) return <ErrorBanner error={error} />;
  if (!src) return <Loading what="the desktop view" />;
  return (
    <>
      <iframe class="desktop-frame" src={src} title="Sandbox desktop (noVNC)" referrerpolicy="no-referrer" />
      <p class="muted">
        <a href={src} target="_blank" rel="noopener noreferrer">
          Open the desktop in a new tab
        </a>
      </p>
    </>
  );
}

function Desktop({ sandboxId }: { sandboxId: string }) {
  const action = useAction();
  const [unavailable, setUnavailable] = useState<string>();
  const status = usePoll(
    async () => {
      try {
        const s = await api<{ status: Status }>('GET', toolboxPath(sandboxId, 'computeruse/status'));
        setUnavailable(undefined);
        return s.status;
      } catch (e) {
        // 503: the sandbox's image has no desktop; the API's message says so.
        if (e instanceof ApiError && e.statusCode === 503) {
          setUnavailable(e.message);
          return undefined;
        }
        throw e;
      }
    },
    3000,
    [sandboxId],
  );
  const call = (what: 'start' | 'stop') => action.run(async () => {
    await api('POST', toolboxPath(sandboxId, `computeruse/${what}`));
    status.reload();
  });

  if (unavailable) {
    return (
      <div class="notice wrap-words" role="status">
        {unavailable}
      </div>
    );
  }
  if (status.data === undefined && !status.error) return <Loading what="the desktop status" />;
  const s = status.data;
  return (
    <div class="desktop-tab">
      <div class="filters">
        <span>
          Desktop: <StateBadge state={s} />
        </span>
        <button class="primary" onClick={() => call('start')} disabled={action.busy || s === 'active'}>
          Start desktop
        </button>
        <button onClick={() => call('stop')} disabled={action.busy || s === 'inactive'}>
          Stop desktop
        </button>
      </div>
      <ErrorBanner error={action.error ?? status.error} onClose={action.error ? action.clear : undefined} />
      {s === 'active' ? <Viewer sandboxId={sandboxId} /> : <p class="muted">Start the desktop to see it here.</p>}
    </div>
  );
}

export function DesktopTab({ sandbox }: SandboxTabProps) {
  if (sandbox.state !== 'started') {
    return (
      <p class="notice">
        The desktop runs in a started sandbox; this one is <strong>{sandbox.state ?? 'unknown'}</strong>.
      </p>
    );
  }
  return <Desktop key={sandbox.id} sandboxId={sandbox.id} />;
}
