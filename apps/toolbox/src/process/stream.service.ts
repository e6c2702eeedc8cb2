import { spawn } from 'node:child_process';
import { access, constants as fsConstants } from 'node:fs/promises';
import { constants } from 'node:os';
import type { IPty } from 'node-pty';
import type { WebSocket } from 'ws';
import {
  acceptedStreamEnv,
  SFTP_SERVER_PATHS,
  StreamChannel,
  type ProcessStreamClientControl,
  type ProcessStreamServerControl,
  type ProcessStreamStart,
} from '@shoal/contracts';
import type { ToolboxContext } from '../context.js';
import { userSpawnPath } from './user-spawn.js';

/** Output is read no faster than the socket drains past this much queued (a slow client costs no memory). */
const HIGH_WATER = 2 * 1024 * 1024;
const MAX_DIM = 1000;

const signalNumbers = constants.signals as Record<string, number>;

/** The running process behind one stream, whether on a PTY or on pipes. */
interface Running {
  write(data: Buffer): void;
  endInput(): void;
  resize(cols: number, rows: number): void;
  signal(name: NodeJS.Signals): void;
  pause(): void;
  resume(): void;
}

type NodePty = typeof import('node-pty');
let nodePty: Promise<NodePty> | undefined;
const loadNodePty = () => (nodePty ??= import('node-pty'));

function send(ws: WebSocket, control: ProcessStreamServerControl): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(control));
}

export function parseStart(text: string): ProcessStreamStart {
  const value = JSON.parse(text) as Partial<ProcessStreamStart>;
  if (value.type !== 'start' || !['shell', 'exec', 'sftp'].includes(String(value.mode))) throw new Error('the first message must be {type:"start", mode}');
  if (value.mode === 'exec' && typeof value.command !== 'string') throw new Error('exec needs a command');
  if (value.pty) {
    const { cols, rows, term } = value.pty;
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > MAX_DIM || rows > MAX_DIM) throw new Error('bad PTY size');
    if (typeof term !== 'string' || !/^[\w.+-]{1,64}$/.test(term)) throw new Error('bad terminal type');
  }
  return value as ProcessStreamStart;
}

/**
 * Runs one process for a WebSocket client as the toolbox's own user (the sandbox user): the user's login shell, a
 * command through that shell, or the image's sftp-server. See packages/contracts/src/process-stream.ts for frames.
 */
export class StreamService {
  constructor(
    private readonly ctx: ToolboxContext,
    private readonly shell: string,
  ) {}

  async run(ws: WebSocket, start: ProcessStreamStart): Promise<void> {
    // Input that arrives while the process starts is kept for it.
    let running: Running | undefined;
    const early: [Buffer, boolean][] = [];
    let closedEarly = false;
    let exited = false;
    const onMessage = (bytes: Buffer, isBinary: boolean) => {
      if (!running) {
        early.push([bytes, isBinary]);
        return;
      }
      this.onMessage(running, bytes, isBinary);
    };
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
      onMessage(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer), isBinary),
    );
    ws.on('close', () => {
      // The client went away (ssh closed, gateway stopped): the session ends with it, as sshd's does.
      if (running && !exited) running.signal('SIGHUP');
      else closedEarly = true;
    });
    const env: Record<string, string> = { ...this.ctx.env };
    for (const [k, v] of Object.entries(start.env ?? {})) if (acceptedStreamEnv(k) && typeof v === 'string') env[k] = v;
    let file = this.shell;
    let args: string[];
    if (start.mode === 'sftp') {
      const found = await firstExecutable(SFTP_SERVER_PATHS);
      if (!found) {
        send(ws, { type: 'error', message: 'This sandbox has no sftp-server (install openssh-sftp-server in its image); scp and sftp need it' });
        send(ws, { type: 'exit', exitCode: 127 });
        ws.close(1000);
        return;
      }
      file = found;
      args = [];
    } else if (start.mode === 'exec') {
      args = ['-c', start.command!];
    } else {
      args = start.pty ? ['-i', '-l'] : ['-l'];
    }
    if (start.pty) env.TERM = start.pty.term;
    const finish = (exitCode: number | null, signal: string | null) => {
      if (exited) return;
      exited = true;
      const sig = signal ?? undefined;
      send(ws, { type: 'exit', exitCode: exitCode ?? 128 + (sig ? (signalNumbers[sig] ?? 0) : 0), ...(sig ? { signal: sig } : {}) });
      ws.close(1000);
    };
    try {
      running = start.pty ? await this.onPty(ws, file, args, env, start.pty, finish) : this.onPipes(ws, file, args, env, finish);
    } catch (err) {
      send(ws, { type: 'error', message: `could not start: ${(err as Error).message}` });
      finish(127, null);
      return;
    }
    if (closedEarly) running.signal('SIGHUP');
    for (const [bytes, isBinary] of early.splice(0)) this.onMessage(running, bytes, isBinary);
  }

  private onMessage(running: Running, bytes: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (bytes[0] === StreamChannel.stdin && bytes.length > 1) running.write(bytes.subarray(1));
      return;
    }
    let control: ProcessStreamClientControl;
    try {
      control = JSON.parse(bytes.toString()) as ProcessStreamClientControl;
    } catch {
      return;
    }
    if (control.type === 'eof') running.endInput();
    else if (control.type === 'resize' && Number.isInteger(control.cols) && Number.isInteger(control.rows)) {
      running.resize(Math.min(Math.max(control.cols, 1), MAX_DIM), Math.min(Math.max(control.rows, 1), MAX_DIM));
    } else if (control.type === 'signal' && typeof control.signal === 'string' && control.signal in signalNumbers) {
      running.signal(control.signal as NodeJS.Signals);
    }
  }

  private onPipes(ws: WebSocket, file: string, args: string[], env: Record<string, string>, finish: (code: number | null, signal: string | null) => void): Running {
    const command = userSpawnPath(this.ctx, file, args);
    const child = spawn(command.file, command.args, { cwd: this.ctx.workdir, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const forward = (channel: number, stream: NodeJS.ReadableStream & { pause(): void; resume(): void }) =>
      stream.on('data', (chunk: Buffer) => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(Buffer.concat([Buffer.of(channel), chunk]), { binary: true }, () => {
          if (ws.bufferedAmount < HIGH_WATER) stream.resume();
        });
        if (ws.bufferedAmount >= HIGH_WATER) stream.pause();
      });
    forward(StreamChannel.stdout, child.stdout);
    forward(StreamChannel.stderr, child.stderr);
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => {
      send(ws, { type: 'error', message: `could not start: ${err.message}` });
      finish(127, null);
    });
    child.on('close', (code, signal) => finish(code, signal));
    const kill = (signal: NodeJS.Signals) => {
      try {
        // Its own process group: the signal reaches what the shell started too.
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    return {
      write: (data) => child.stdin.write(data),
      endInput: () => child.stdin.end(),
      resize: () => undefined,
      signal: kill,
      pause: () => child.stdout.pause(),
      resume: () => child.stdout.resume(),
    };
  }

  private async onPty(
    ws: WebSocket,
    file: string,
    args: string[],
    env: Record<string, string>,
    size: { term: string; cols: number; rows: number },
    finish: (code: number | null, signal: string | null) => void,
  ): Promise<Running> {
    const lib = await loadNodePty();
    const command = userSpawnPath(this.ctx, file, args);
    const pty: IPty = lib.spawn(command.file, command.args, {
      name: size.term,
      cols: size.cols,
      rows: size.rows,
      cwd: this.ctx.workdir,
      env,
      encoding: null,
    } as Parameters<NodePty['spawn']>[2]);
    pty.onData((data: string | Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      ws.send(Buffer.concat([Buffer.of(StreamChannel.stdout), bytes]), { binary: true }, () => {
        if (ws.bufferedAmount < HIGH_WATER) pty.resume();
      });
      if (ws.bufferedAmount >= HIGH_WATER) pty.pause();
    });
    pty.onExit(({ exitCode, signal }) => {
      const name = signal ? Object.entries(signalNumbers).find(([, n]) => n === signal)?.[0] : undefined;
      // node-pty may still deliver buffered output right after the exit callback; let it through first.
      setImmediate(() => finish(signal ? 128 + signal : exitCode, name ?? null));
    });
    return {
      write: (data) => (pty as unknown as { write(d: Buffer): void }).write(data),
      // A terminal has no end of input: ^D is what the user types.
      endInput: () => undefined,
      resize: (cols, rows) => pty.resize(cols, rows),
      signal: (name) => {
        try {
          pty.kill(name);
        } catch {
          // Already gone.
        }
      },
      pause: () => pty.pause(),
      resume: () => pty.resume(),
    };
  }
}

async function firstExecutable(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) {
    try {
      await access(p, fsConstants.X_OK);
      return p;
    } catch {
      // Next.
    }
  }
  return undefined;
}
