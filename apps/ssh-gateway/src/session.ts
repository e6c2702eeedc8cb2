import type { IncomingMessage } from 'node:http';
import type { ServerChannel, Session } from 'ssh2';
import type WebSocket from 'ws';
import { acceptedStreamEnv, StreamChannel, type ProcessStreamServerControl, type ProcessStreamStart } from '@shoal/contracts';
import type { GatewayApi } from './api-client.js';

/** Queued output past which the gateway stops reading from the other side (flow control both ways). */
const HIGH_WATER = 1024 * 1024;

interface PtyInfo {
  term: string;
  cols: number;
  rows: number;
}

/**
 * One SSH session: collects pty-req and env, then runs shell, exec or the sftp subsystem in the sandbox over one
 * streaming-process WebSocket and relays bytes, resizes, EOF and the exit status.
 */
export function handleSession(session: Session, api: GatewayApi, target: { sandboxId: string; token: string }, log: (line: string) => void): void {
  let pty: PtyInfo | undefined;
  const env: Record<string, string> = {};
  let ws: WebSocket | undefined;
  let pendingResize: { cols: number; rows: number } | undefined;

  session.on('pty', (accept, _reject, info) => {
    pty = { term: info.term || 'xterm', cols: info.cols || 80, rows: info.rows || 24 };
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    if (acceptedStreamEnv(info.key)) {
      env[info.key] = info.val;
      accept?.();
    } else reject?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    accept?.();
    const size = { cols: info.cols, rows: info.rows };
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', ...size }));
    else pendingResize = size;
  });
  session.on('signal', (accept, _reject, info) => {
    accept?.();
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'signal', signal: `SIG${info.name}` }));
  });

  const run = (channel: ServerChannel, start: ProcessStreamStart) => {
    ws = api.openStream(target.sandboxId, target.token);
    const socket = ws;
    let exited = false;
    const fail = (message: string) => {
      if (exited) return;
      exited = true;
      channel.stderr.write(`shoal: ${message}\r\n`);
      channel.exit(255);
      channel.end();
    };
    socket.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let message = `the sandbox could not be reached (HTTP ${res.statusCode})`;
        try {
          const parsed = JSON.parse(body) as { message?: string };
          if (parsed.message) message = `${parsed.message} (HTTP ${res.statusCode})`;
        } catch {
          // Not JSON: keep the status line.
        }
        fail(message);
      });
    });
    socket.on('error', (err) => fail(`the sandbox could not be reached: ${err.message}`));
    socket.on('open', () => {
      socket.send(JSON.stringify(start));
      if (pendingResize) socket.send(JSON.stringify({ type: 'resize', ...pendingResize }));
      channel.on('data', (data: Buffer) => {
        socket.send(Buffer.concat([Buffer.of(StreamChannel.stdin), data]), { binary: true }, () => {
          if (socket.bufferedAmount < HIGH_WATER) channel.resume();
        });
        if (socket.bufferedAmount >= HIGH_WATER) channel.pause();
      });
      channel.on('end', () => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'eof' }));
      });
    });
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const payload = data.subarray(1);
        const ok = data[0] === StreamChannel.stderr ? channel.stderr.write(payload) : channel.write(payload);
        if (!ok) {
          socket.pause();
          (data[0] === StreamChannel.stderr ? channel.stderr : channel).once('drain', () => socket.resume());
        }
        return;
      }
      let control: ProcessStreamServerControl;
      try {
        control = JSON.parse(data.toString()) as ProcessStreamServerControl;
      } catch {
        return;
      }
      if (control.type === 'error') channel.stderr.write(`shoal: ${control.message}\r\n`);
      else if (control.type === 'exit' && !exited) {
        exited = true;
        if (control.signal) channel.exit(control.signal.replace(/^SIG/, ''), false, '');
        else channel.exit(control.exitCode);
        channel.end();
      }
    });
    socket.on('close', () => {
      if (!exited) fail('the connection to the sandbox was lost');
    });
    channel.on('close', () => socket.close());
  };

  session.on('shell', (accept) => {
    const channel = accept();
    run(channel, { type: 'start', mode: 'shell', ...(pty ? { pty } : {}), env });
  });
  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    log(`exec in ${target.sandboxId}`);
    run(channel, { type: 'start', mode: 'exec', command: info.command, ...(pty ? { pty } : {}), env });
  });
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') {
      reject();
      return;
    }
    run(accept(), { type: 'start', mode: 'sftp', env });
  });
}
