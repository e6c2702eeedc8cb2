import type { IPty } from 'node-pty';
import { constants } from 'node:os';
import { stat } from 'node:fs/promises';
import type { WebSocket } from 'ws';
import type { PtyCreateRequest, PtyExitReason, PtySessionInfo } from '@shoal/contracts';
import { resolvePath, type ToolboxContext } from '../context.js';
import { badRequest, conflict, fromErrno, gone, notFound } from '../http/errors.js';
import { userSpawnPath } from './user-spawn.js';

/** Output produced while no client is attached is kept (up to this much) for the next client to attach. */
const BACKLOG_LIMIT = 1024 * 1024;

const signalNames: Record<number, string> = Object.fromEntries(
  Object.entries(constants.signals).map(([name, num]) => [num as number, name]),
);

type NodePty = typeof import('node-pty');
let nodePty: Promise<NodePty> | undefined;
/** node-pty's native addon is loaded on the first PTY, not at startup: cold start is on the runner's critical path. */
const loadNodePty = () => (nodePty ??= import('node-pty'));

export function exitReason(exitCode: number, signal: number | undefined): PtyExitReason {
  if (signal) {
    const name = signalNames[signal];
    return { exitCode: 128 + signal, exitReason: name === 'SIGINT' ? 'Ctrl+C' : (name ?? `signal ${signal}`) };
  }
  return exitCode === 0 ? { exitCode: 0 } : { exitCode, exitReason: 'non-zero exit' };
}

class PtySession {
  pty: IPty | undefined;
  readonly clients = new Set<WebSocket>();
  exit: PtyExitReason | undefined;
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private starting: Promise<void> | undefined;

  constructor(
    readonly info: PtySessionInfo,
    private readonly ctx: ToolboxContext,
    private readonly shell: string,
  ) {}

  start(): Promise<void> {
    this.starting ??= loadNodePty().then((lib) => {
      const env = { ...this.ctx.env, TERM: 'xterm-256color', ...this.info.envs };
      const command = userSpawnPath(this.ctx, this.shell, ['-i', '-l']);
      const pty = lib.spawn(command.file, command.args, {
        name: env.TERM ?? 'xterm-256color',
        cols: this.info.cols,
        rows: this.info.rows,
        cwd: this.info.cwd,
        env,
        encoding: null,
      } as Parameters<NodePty['spawn']>[2]);
      this.pty = pty;
      this.info.active = true;
      pty.onData((data: string | Buffer) => this.broadcast(typeof data === 'string' ? Buffer.from(data) : data));
      pty.onExit(({ exitCode, signal }) => {
        // node-pty may still deliver buffered output right after the exit callback; let it through first.
        setImmediate(() => this.finish(exitReason(exitCode, signal)));
      });
    });
    return this.starting;
  }

  private broadcast(data: Buffer): void {
    if (this.clients.size === 0) {
      if (this.backlogBytes + data.length <= BACKLOG_LIMIT) {
        this.backlog.push(data);
        this.backlogBytes += data.length;
      }
      return;
    }
    for (const ws of this.clients) if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
  }

  attach(ws: WebSocket): void {
    this.clients.add(ws);
    for (const chunk of this.backlog) ws.send(chunk, { binary: true });
    this.backlog = [];
    this.backlogBytes = 0;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      if (!this.pty || this.exit) return;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      (this.pty as unknown as { write(data: string | Buffer): void }).write(bytes);
    });
    ws.on('close', () => this.clients.delete(ws));
    ws.on('error', () => this.clients.delete(ws));
  }

  finish(reason: PtyExitReason): void {
    if (this.exit) return;
    this.exit = reason;
    this.info.active = false;
    for (const ws of this.clients) closeWithExit(ws, reason);
    this.clients.clear();
  }

  kill(): void {
    if (this.pty && !this.exit) {
      try {
        this.pty.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    } else if (!this.exit) {
      // Never started (lazy and never connected): report it as killed to anyone waiting.
      this.finish({ exitCode: 137, exitReason: 'SIGKILL' });
    }
  }
}

export function closeWithExit(ws: WebSocket, reason: PtyExitReason): void {
  ws.close(reason.exitCode === 0 ? 1000 : 1011, JSON.stringify(reason));
}

export class PtyService {
  private readonly sessions = new Map<string, PtySession>();

  constructor(
    private readonly ctx: ToolboxContext,
    private readonly shell: string,
  ) {}

  async create(request: PtyCreateRequest): Promise<string> {
    if (this.sessions.has(request.id)) throw conflict(`PTY session ${request.id} already exists`);
    const cwd = request.cwd ? resolvePath(this.ctx, request.cwd) : this.ctx.workdir;
    try {
      if (!(await stat(cwd)).isDirectory()) throw badRequest(`cwd ${request.cwd}: not a directory`);
    } catch (err) {
      throw fromErrno(err, `cwd ${request.cwd}`);
    }
    if (this.sessions.has(request.id)) throw conflict(`PTY session ${request.id} already exists`);
    const session = new PtySession(
      {
        id: request.id,
        cwd,
        envs: request.envs ?? {},
        cols: request.cols ?? 80,
        rows: request.rows ?? 24,
        createdAt: new Date().toISOString(),
        active: false,
        lazyStart: request.lazyStart ?? false,
      },
      this.ctx,
      this.shell,
    );
    this.sessions.set(request.id, session);
    if (!session.info.lazyStart) {
      try {
        await session.start();
      } catch (err) {
        this.sessions.delete(request.id);
        throw badRequest(`failed to start PTY: ${(err as Error).message}`);
      }
    }
    return request.id;
  }

  get(id: string): PtySession {
    const session = this.sessions.get(id);
    if (!session) throw notFound(`PTY session ${id} not found`);
    return session;
  }

  list(): PtySessionInfo[] {
    return [...this.sessions.values()].map((s) => s.info);
  }

  remove(id: string): void {
    const session = this.get(id);
    this.sessions.delete(id);
    session.kill();
  }

  resize(id: string, cols: number, rows: number): PtySessionInfo {
    const session = this.get(id);
    if (session.exit) throw gone(`PTY session ${id} has exited`);
    session.pty?.resize(cols, rows);
    session.info.cols = cols;
    session.info.rows = rows;
    return session.info;
  }

  /** A WebSocket client attaches: the control frame first, then (lazily) the shell starts. */
  async connect(id: string, ws: WebSocket): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) {
      ws.send(JSON.stringify({ type: 'control', status: 'error', error: `PTY session ${id} not found` }));
      ws.close(1011, JSON.stringify({ exitCode: -1, error: 'PTY session not found' }));
      return;
    }
    if (session.exit) {
      ws.send(JSON.stringify({ type: 'control', status: 'connected' }));
      closeWithExit(ws, session.exit);
      return;
    }
    try {
      await session.start();
    } catch (err) {
      ws.send(JSON.stringify({ type: 'control', status: 'error', error: `failed to start PTY: ${(err as Error).message}` }));
      ws.close(1011, JSON.stringify({ exitCode: -1, error: 'failed to start PTY' }));
      return;
    }
    ws.send(JSON.stringify({ type: 'control', status: 'connected' }));
    if (session.exit) closeWithExit(ws, session.exit);
    else session.attach(ws);
  }

  shutdown(): void {
    for (const session of this.sessions.values()) session.kill();
  }
}
