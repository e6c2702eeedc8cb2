import { useEffect, useRef, useState } from 'preact/hooks';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { api, API_BASE, authHeaders, getSession } from '../api.js';
import { ErrorBanner } from '../ui.js';
import { toolboxPath } from './toolbox.js';
import type { SandboxTabProps } from './index.js';

type Phase = 'creating' | 'connecting' | 'connected' | 'exited' | 'failed';

interface ExitReason {
  exitCode?: number;
  exitReason?: string;
  error?: string;
}

/**
 * The WebSocket goes through the API's toolbox proxy, which takes only an API key for the toolbox (never the preview
 * token). A browser cannot set headers on a WebSocket, so the key and organization travel as subprotocols the proxy
 * turns into headers and removes; the sandbox answers with `shoal.v1`, the one left.
 */
function openSocket(sandboxId: string, sessionId: string): WebSocket {
  const s = getSession();
  const protocols = ['shoal.v1'];
  if (s) protocols.push(`shoal.api-key.${s.token}`);
  if (s?.organizationId) protocols.push(`shoal.org.${s.organizationId}`);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}${API_BASE}${toolboxPath(sandboxId, `process/pty/${encodeURIComponent(sessionId)}/connect`)}`, protocols);
  ws.binaryType = 'arraybuffer';
  return ws;
}

function describeExit(ev: CloseEvent): string {
  let reason: ExitReason = {};
  try {
    reason = JSON.parse(ev.reason) as ExitReason;
  } catch {
    // Not the toolbox's exit JSON: the proxy or the network ended the socket.
  }
  if (reason.error) return `Session ended: ${reason.error}`;
  if (reason.exitCode !== undefined) return `Shell exited with code ${reason.exitCode}${reason.exitReason ? ` (${reason.exitReason})` : ''}.`;
  return ev.code === 1000 ? 'Session ended.' : `Connection closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}).`;
}

function TerminalView({ sandboxId, onEnd }: { sandboxId: string; onEnd: () => void }) {
  const host = useRef<HTMLDivElement>(null);
  const [phase, setPhase] = useState<Phase>('creating');
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  const [size, setSize] = useState<{ cols: number; rows: number }>();
  const [sessionId] = useState(() => `dashboard-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);

  useEffect(() => {
    const el = host.current!;
    const term = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000, fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace" });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    setSize({ cols: term.cols, rows: term.rows });
    let ws: WebSocket | undefined;
    let disposed = false;
    let created = false;
    const encoder = new TextEncoder();
    const send = (data: string | Uint8Array) => {
      if (ws?.readyState === WebSocket.OPEN) ws.send(typeof data === 'string' ? encoder.encode(data) : data);
    };
    const inputs = [
      term.onData((d) => send(d)),
      // Mouse reports in X10 mode arrive as binary strings: one byte per character.
      term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff))),
    ];

    // Resizes (window, container, phone rotation) reach the PTY once they settle.
    let resizeTimer: ReturnType<typeof setTimeout> | undefined;
    const pushSize = () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (!created || disposed) return;
        api('POST', toolboxPath(sandboxId, `process/pty/${encodeURIComponent(sessionId)}/resize`), { cols: term.cols, rows: term.rows }).catch((e: Error) =>
          setError(`Resize failed: ${e.message}`),
        );
      }, 150);
    };
    const onTermResize = term.onResize(({ cols, rows }) => {
      setSize({ cols, rows });
      pushSize();
    });
    const observer = new ResizeObserver(() => {
      if (el.offsetParent !== null) fit.fit();
    });
    observer.observe(el);

    const kill = () => {
      if (!created) return;
      created = false;
      // keepalive: the DELETE still goes out when the tab or window is closing.
      void fetch(`${API_BASE}${toolboxPath(sandboxId, `process/pty/${encodeURIComponent(sessionId)}`)}`, {
        method: 'DELETE',
        keepalive: true,
        headers: authHeaders(),
      }).catch(() => undefined);
    };
    addEventListener('pagehide', kill);

    (async () => {
      try {
        await api('POST', toolboxPath(sandboxId, 'process/pty'), { id: sessionId, cols: term.cols, rows: term.rows, lazyStart: true });
        created = true;
        if (disposed) return kill();
        setPhase('connecting');
        ws = openSocket(sandboxId, sessionId);
        ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
          if (typeof ev.data !== 'string') {
            term.write(new Uint8Array(ev.data));
            return;
          }
          // Text frames are control messages; anything else is output like the binary frames.
          try {
            const msg = JSON.parse(ev.data) as { type?: string; status?: string; error?: string };
            if (msg.type === 'control') {
              if (msg.status === 'connected') {
                setPhase('connected');
                term.focus();
                pushSize();
              } else if (msg.status === 'error') {
                setPhase('failed');
                setError(msg.error ?? 'The terminal session failed.');
              }
              return;
            }
          } catch {
            // plain output
          }
          term.write(ev.data);
        };
        ws.onclose = (ev) => {
          if (disposed) return;
          created = false;
          setPhase((p) => (p === 'failed' ? p : ev.code === 1000 || ev.reason.startsWith('{') ? 'exited' : 'failed'));
          setMessage(describeExit(ev));
          term.options.disableStdin = true;
        };
        ws.onerror = () => {
          if (!disposed) setError('The terminal connection failed (the sandbox may have stopped, or the key lacks write:sandboxes).');
        };
      } catch (e) {
        if (disposed) return;
        setPhase('failed');
        setError((e as Error).message);
      }
    })();

    return () => {
      disposed = true;
      clearTimeout(resizeTimer);
      observer.disconnect();
      removeEventListener('pagehide', kill);
      for (const d of inputs) d.dispose();
      onTermResize.dispose();
      ws?.close(1000);
      kill();
      term.dispose();
    };
  }, [sandboxId, sessionId]);

  const label: Record<Phase, string> = {
    creating: 'Creating session…',
    connecting: 'Connecting…',
    connected: 'Connected',
    exited: 'Ended',
    failed: 'Disconnected',
  };
  return (
    <div class="terminal-tab">
      <div class="terminal-bar">
        <span class={`badge ${phase === 'connected' ? 'state-started' : phase === 'failed' ? 'state-error' : ''}`} role="status" aria-live="polite" data-phase={phase}>
          {label[phase]}
        </span>
        <span class="muted mono" title="PTY session id">
          {sessionId}
          {size ? ` · ${size.cols}×${size.rows}` : ''}
        </span>
        {(phase === 'exited' || phase === 'failed') && (
          <button class="primary" onClick={onEnd}>
            New session
          </button>
        )}
      </div>
      <ErrorBanner error={error} onClose={() => setError(undefined)} />
      {message && <p class="notice">{message}</p>}
      <div class="terminal-host" ref={host} role="region" aria-label="Terminal" />
    </div>
  );
}

export function TerminalTab({ sandbox }: SandboxTabProps) {
  const [generation, setGeneration] = useState(0);
  if (sandbox.state !== 'started') {
    return (
      <p class="notice">
        The terminal needs a started sandbox; this one is <strong>{sandbox.state ?? 'unknown'}</strong>.
      </p>
    );
  }
  // A new key makes a new PTY session (the old one was killed when its view unmounted).
  return <TerminalView key={`${sandbox.id}:${generation}`} sandboxId={sandbox.id} onEnd={() => setGeneration((g) => g + 1)} />;
}
