import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import {
  CreateSessionRequest,
  ExecuteRequest,
  PtyCreateRequest,
  PtyResizeRequest,
  PROCESS_STREAM_PATH,
  SessionExecuteRequest,
} from '@shoal/contracts';
import { renderError } from '../http/errors.js';
import type { Router, UpgradeContext } from '../http/router.js';
import type { ExecuteService } from '../process/execute.service.js';
import { newCursor, stripMarkers, wantsMarkers, type OutputLog } from '../process/output-log.js';
import type { PtyService } from '../process/pty.service.js';
import { parseStart, type StreamService } from '../process/stream.service.js';
import { commandInfo, type SessionsService } from '../process/sessions.service.js';

function sdkVersion(req: IncomingMessage): string | undefined {
  const header = req.headers['x-daytona-sdk-version'];
  if (typeof header === 'string') return header;
  // Browser SDKs cannot set headers on a WebSocket and send the version as a subprotocol instead.
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '');
  return /X-Daytona-SDK-Version~([^,\s]+)/.exec(protocols)?.[1];
}

/** A follower stops reading the spool while this much is queued for its socket (the toolbox's memory stays flat). */
const FOLLOW_HIGH_WATER = 1024 * 1024;
/**
 * Bytes per frame or chunk sent to a follower. The SDK's stream demuxer spreads each frame into a call's arguments
 * (`buf.push(...chunk)`), which overflows the stack somewhere above 100 KiB.
 */
const FOLLOW_CHUNK = 32 * 1024;

/**
 * Streams a log to one follower from the start, reading the spool as the follower's socket drains: a slow follower
 * costs no memory, and one that falls behind the kept tail gets the truncation marker and resumes from the tail.
 * `send` returns false when the sink is full and calls `drained` once it can take more.
 */
function follow(
  log: OutputLog,
  sink: { send(data: Buffer, drained: () => void): boolean; end(): void; onClose(listener: () => void): void },
): void {
  const cursor = newCursor();
  let scheduled = false;
  let waiting = false;
  let closed = false;
  const pump = () => {
    scheduled = false;
    if (closed || waiting) return;
    for (;;) {
      const chunk = log.read(cursor, FOLLOW_CHUNK);
      if (!chunk) break;
      if (!sink.send(chunk, onDrained)) {
        waiting = true;
        return;
      }
    }
    if (log.done(cursor)) finish();
  };
  const schedule = () => {
    if (!scheduled && !closed) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  const onDrained = () => {
    waiting = false;
    schedule();
  };
  const finish = () => {
    if (closed) return;
    closed = true;
    log.off('data', schedule);
    log.off('end', schedule);
    sink.end();
  };
  log.on('data', schedule);
  log.on('end', schedule);
  sink.onClose(() => {
    closed = true;
    log.off('data', schedule);
    log.off('end', schedule);
  });
  pump();
}

function rejectUpgrade(ctx: UpgradeContext, status: number, message: string): void {
  const path = new URL(ctx.req.url ?? '/', 'http://toolbox').pathname;
  const body = JSON.stringify(renderError(status, message, path));
  const phrase = status === 404 ? 'Not Found' : 'Bad Request';
  ctx.socket.end(
    `HTTP/1.1 ${status} ${phrase}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}

export function registerProcessRoutes(
  router: Router,
  deps: { execute: ExecuteService; sessions: SessionsService; pty: PtyService; stream: StreamService },
): void {
  const { execute, sessions, pty, stream } = deps;
  // The WebSocket library is loaded by the first upgrade (PTY, log follow), not at the daemon's start: it and what it
  // requires (https, tls, zlib) cost every sandbox start about 4 ms, and most sandboxes never upgrade a connection.
  let wss: Promise<WebSocketServer> | undefined;
  const accept = (ctx: UpgradeContext, then: (ws: WebSocket) => void) => {
    wss ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({ noServer: true, perMessageDeflate: false }));
    void wss.then(
      (server) =>
        server.handleUpgrade(ctx.req, ctx.socket, ctx.head, (ws) => {
          ws.on('error', () => undefined);
          then(ws);
        }),
      () => ctx.socket.destroy(),
    );
  };

  router.add({
    method: 'POST',
    path: '/process/execute',
    operation: 'executeCommand',
    body: ExecuteRequest,
    handler: async ({ body }) => ({ status: 200, json: await execute.execute(body) }),
  });

  router.add({
    method: 'POST',
    path: '/process/session',
    operation: 'createSession',
    body: CreateSessionRequest,
    handler: async ({ body }) => {
      await sessions.create(body.sessionId);
      return { status: 201 };
    },
  });

  router.add({
    method: 'GET',
    path: '/process/session',
    operation: 'listSessions',
    handler: async () => ({ status: 200, json: sessions.list() }),
  });

  router.add({
    method: 'GET',
    path: '/process/session/:sessionId',
    operation: 'getSession',
    handler: async ({ params }) => ({ status: 200, json: sessions.get(params.sessionId as string).toJSON() }),
  });

  router.add({
    method: 'DELETE',
    path: '/process/session/:sessionId',
    operation: 'deleteSession',
    handler: async ({ params }) => {
      await sessions.remove(params.sessionId as string);
      return { status: 204 };
    },
  });

  router.add({
    method: 'POST',
    path: '/process/session/:sessionId/exec',
    operation: 'executeSessionCommand',
    body: SessionExecuteRequest,
    handler: async ({ params, body, req }) => {
      const cmd = await sessions.execute(params.sessionId as string, body.command);
      if (body.runAsync || body.async) return { status: 202, json: { cmdId: cmd.id } };
      await cmd.finished;
      const log = cmd.log.contents();
      const output = (wantsMarkers(sdkVersion(req)) ? log : stripMarkers(log)).toString('utf8');
      return { status: 200, json: { cmdId: cmd.id, output, exitCode: cmd.exitCode } };
    },
  });

  router.add({
    method: 'GET',
    path: '/process/session/:sessionId/command/:commandId',
    operation: 'getSessionCommand',
    handler: async ({ params }) => ({
      status: 200,
      json: commandInfo(sessions.command(params.sessionId as string, params.commandId as string)),
    }),
  });

  router.add({
    method: 'GET',
    path: '/process/session/:sessionId/command/:commandId/logs',
    operation: 'getSessionCommandLogs',
    handler: async ({ params, query, req, res }) => {
      const cmd = sessions.command(params.sessionId as string, params.commandId as string);
      const markers = wantsMarkers(sdkVersion(req));
      const frame = (data: Buffer) => (markers ? data : stripMarkers(data));
      if (query.get('follow') !== 'true' || cmd.log.ended) {
        return { status: 200, text: frame(cmd.log.contents()).toString('utf8') };
      }
      // Plain-HTTP follow: a chunked body that ends when the command does.
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      follow(cmd.log, {
        send: (data, drained) => res.write(frame(data)) || (res.once('drain', drained), false),
        end: () => res.end(),
        onClose: (listener) => res.on('close', listener),
      });
      return 'handled';
    },
  });

  router.addUpgrade('/process/session/:sessionId/command/:commandId/logs', (ctx) => {
    let cmd;
    try {
      cmd = sessions.command(ctx.params.sessionId as string, ctx.params.commandId as string);
    } catch (err) {
      rejectUpgrade(ctx, 404, (err as Error).message);
      return;
    }
    const log = cmd.log;
    const markers = wantsMarkers(sdkVersion(ctx.req));
    const frame = (data: Buffer) => (markers ? data : stripMarkers(data));
    accept(ctx, (ws) => {
      // From the start, then following; binary frames because a chunk may end inside a UTF-8 sequence.
      follow(log, {
        send: (data, drained) => {
          ws.send(frame(data), { binary: true }, () => {
            if (ws.bufferedAmount < FOLLOW_HIGH_WATER) drained();
          });
          return ws.bufferedAmount < FOLLOW_HIGH_WATER;
        },
        end: () => ws.close(1000),
        onClose: (listener) => ws.on('close', listener),
      });
    });
  });

  router.add({
    method: 'POST',
    path: '/process/pty',
    operation: 'createPTYSession',
    body: PtyCreateRequest,
    handler: async ({ body }) => ({ status: 201, json: { sessionId: await pty.create(body) } }),
  });

  router.add({
    method: 'GET',
    path: '/process/pty',
    operation: 'listPTYSessions',
    handler: async () => ({ status: 200, json: { sessions: pty.list() } }),
  });

  router.add({
    method: 'GET',
    path: '/process/pty/:sessionId',
    operation: 'getPTYSession',
    handler: async ({ params }) => ({ status: 200, json: pty.get(params.sessionId as string).info }),
  });

  router.add({
    method: 'DELETE',
    path: '/process/pty/:sessionId',
    operation: 'deletePTYSession',
    handler: async ({ params }) => {
      pty.remove(params.sessionId as string);
      return { status: 200, json: { message: `PTY session ${params.sessionId} deleted` } };
    },
  });

  router.add({
    method: 'POST',
    path: '/process/pty/:sessionId/resize',
    operation: 'resizePTYSession',
    body: PtyResizeRequest,
    handler: async ({ params, body }) => ({
      status: 200,
      json: pty.resize(params.sessionId as string, body.cols, body.rows),
    }),
  });

  router.addUpgrade('/process/pty/:sessionId/connect', (ctx) => {
    const id = ctx.params.sessionId as string;
    try {
      pty.get(id);
    } catch (err) {
      rejectUpgrade(ctx, 404, (err as Error).message);
      return;
    }
    accept(ctx, (ws) => void pty.connect(id, ws));
  });

  // The SSH gateway's process: the first message says what to run (packages/contracts/src/process-stream.ts).
  router.addUpgrade(PROCESS_STREAM_PATH, (ctx) => {
    accept(ctx, (ws) => {
      const refuse = (message: string) => {
        ws.send(JSON.stringify({ type: 'error', message }));
        ws.close(1008, 'bad start message');
      };
      const timer = setTimeout(() => refuse('no start message'), 10_000);
      ws.once('message', (data: Buffer, isBinary: boolean) => {
        clearTimeout(timer);
        if (isBinary) return refuse('the first message must be the JSON start message');
        let start;
        try {
          start = parseStart(data.toString());
        } catch (err) {
          return refuse((err as Error).message);
        }
        void stream.run(ws, start);
      });
    });
  });
}
