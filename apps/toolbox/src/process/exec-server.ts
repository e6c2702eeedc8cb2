import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Log } from '../log.js';

/**
 * `shoal-exec --serve` (shoal-exec.c): a small resident process that starts executeCommand's commands for the daemon.
 *
 * Node forks before it execs, and a fork copies the page tables of the whole daemon and leaves every page it writes
 * afterwards to fault once more; a fork of this small static process costs a fraction of that (measured in the
 * README's "executeCommand" section). The server is started after the daemon's first execute, off that request's
 * path, so a sandbox's first command (and its start) never waits for it; until it is ready, and for good if it
 * dies, commands are spawned from the daemon as before.
 *
 * A connection carries one command. The request and the answer frames are described in shoal-exec.c.
 *
 * Spares: starting a process is the largest part of a small command here (about 5 ms of fork, exec and page faults
 * on a machine under nested virtualization). After a command whose script came on stdin (the SDK's, unwrapped), the
 * server is asked to start the same program in the same directory with the same environment ahead of time, blocked
 * on its stdin; the next command of exactly that shape hands its script to it instead of waiting for a new process.
 * The spare is that command's own process, started earlier: same argv, env, cwd, session and output pipe.
 */
export interface ServerCommand {
  /** Resolved path of the program. */
  file: string;
  /** argv, argv[0] included. */
  argv: string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** Written to the command's stdin (a pipe); without it stdin is /dev/null. */
  stdin?: Buffer;
}

export type ServerOutcome =
  | { code: number }
  | { spawnError: NodeJS.ErrnoException }
  /** The server refused or lost the connection before the command started: spawn it another way. */
  | { notStarted: true };

export interface ServerRun {
  result: Promise<ServerOutcome>;
  /** SIGKILL to the command's process group (the relay's session), as soon as its pid is known. */
  kill(): void;
}

const REQUEST_MAGIC = 0x31515853; // "SXQ1"
const FLAG_STDIN = 1;
const FLAG_STDIN_LATER = 2;
// Generous: on a host busy with a burst of starts a small exec can wait; meanwhile commands take the old path.
const READY_TIMEOUT_MS = 30_000;
const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/**
 * A process started ahead of its command (see above). When it is used, the relay checks that the program and the
 * directory it started are still what the paths name (shoal-exec.c, await_stdin); if not, the command runs anew.
 */
interface Spare {
  /** Its request: the shape a command must have to be given to it. */
  shape: Buffer;
  /** The command it was started for (its env may be the daemon's own object, which a claim changes in place). */
  command: ServerCommand;
  socket: Socket;
  /** Commands with stdin of another shape since it was asked for. */
  passedOver: number;
}

/** Spares in a row that were over before their command came (a program that cannot wait): no more of them. */
const SPARE_MISSES_MAX = 3;

/**
 * The request bytes: header, then the NUL-terminated strings and the stdin bytes. `later`: a spare's request, whose
 * stdin follows when it is used (and `cmd.stdin` is ignored).
 */
export function encodeRequest(cmd: ServerCommand, later = false): Buffer | undefined {
  const env = Object.entries(cmd.env).map(([k, v]) => `${k}=${v}`);
  const strings = [cmd.cwd, cmd.file, ...cmd.argv, ...env];
  // NUL cannot travel in a C string; Node's spawn refuses such a command with its own error, so let it.
  if (strings.some((s) => s.includes('\0'))) return undefined;
  const parts: Buffer[] = strings.map((s) => Buffer.from(`${s}\0`, 'utf8'));
  if (cmd.stdin && !later) parts.push(cmd.stdin);
  const payload = Buffer.concat(parts);
  const head = Buffer.alloc(20);
  head.writeUInt32LE(REQUEST_MAGIC, 0);
  head.writeUInt32LE(payload.length, 4);
  head.writeUInt32LE(cmd.argv.length, 8);
  head.writeUInt32LE(env.length, 12);
  head.writeUInt32LE(later ? FLAG_STDIN_LATER : cmd.stdin ? FLAG_STDIN : 0, 16);
  return Buffer.concat([head, payload]);
}

/** Splits the answer stream into frames: one type byte, a u32 LE length, the data. */
export class FrameReader {
  private pending: Buffer[] = [];
  private size = 0;

  constructor(private readonly onFrame: (type: string, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.size += chunk.length;
    while (this.size >= 5) {
      const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const len = buf.readUInt32LE(1);
      if (buf.length < 5 + len) {
        this.pending = [buf];
        return;
      }
      const type = String.fromCharCode(buf[0]!);
      const rest = buf.subarray(5 + len);
      this.pending = rest.length ? [rest] : [];
      this.size = rest.length;
      this.onFrame(type, buf.subarray(5, 5 + len));
    }
  }
}

export class ExecServer {
  private child: ChildProcess | undefined;
  private state: 'idle' | 'starting' | 'ready' | 'gone' = 'idle';
  private spare: Spare | undefined;
  private spareMisses = 0;

  constructor(
    private readonly helper: string,
    private readonly socketPath: string,
    private readonly log: Log,
  ) {}

  get ready(): boolean {
    return this.state === 'ready';
  }

  /**
   * Starts the server once, `delayMs` from now (off the caller's request), in the background; `ready` turns true when
   * it listens. Any later call, once starting, ready or gone, costs one comparison.
   */
  start(delayMs = 0): void {
    if (this.state !== 'idle') return;
    this.state = 'starting';
    setTimeout(() => this.spawnServer(), delayMs).unref();
  }

  private spawnServer(): void {
    if (this.state !== 'starting') return;
    let child: ChildProcess;
    try {
      // Its stdin is the daemon's pipe: when the daemon is gone, the server sees end-of-file and exits.
      child = spawn(this.helper, ['--serve', this.socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    } catch (err) {
      this.gone(`cannot start: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    const timer = setTimeout(() => this.gone('not ready in time'), READY_TIMEOUT_MS);
    timer.unref();
    let said = '';
    child.stdout?.on('data', (c: Buffer) => {
      said += c.toString();
      if (this.state === 'starting' && said.includes('ready\n')) {
        clearTimeout(timer);
        this.state = 'ready';
      }
    });
    child.on('error', (err) => this.gone(err.message));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      this.gone(`exited (${signal ?? code})`);
    });
    // The server must never keep the daemon alive, nor the daemon wait for it.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private gone(why: string): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    this.log(`exec server ${why}: commands are spawned by the daemon from now on`);
    this.child?.kill('SIGKILL');
    this.dropSpare();
  }

  stop(): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    this.child?.kill('SIGTERM');
    this.dropSpare();
  }

  /**
   * Has the server start `cmd`'s program now, waiting for its stdin (the next command of this shape). A spare of
   * another shape stays unless commands with stdin passed it over twice in a row (two shapes taking turns must not
   * cost a process each). No spares after SPARE_MISSES_MAX in a row were over before their command came.
   */
  prepare(cmd: ServerCommand): void {
    if (this.state !== 'ready' || this.spareMisses >= SPARE_MISSES_MAX) return;
    const shape = encodeRequest(cmd, true);
    if (!shape) return;
    const current = this.spare;
    if (current && (current.shape.equals(shape) || current.passedOver < 2)) return;
    this.dropSpare();
    const socket = connect(this.socketPath);
    const spare: Spare = { shape, command: cmd, socket, passedOver: 0 };
    // Until it is used, anything from the relay means it is over (its program exited, or it refused the request).
    const over = () => {
      socket.destroy();
      if (this.spare === spare) this.spare = undefined;
    };
    socket.on('data', over);
    socket.on('close', over);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') this.gone(`unreachable (${err.code})`);
      over();
    });
    socket.write(shape);
    // Idle, it must not keep the daemon alive.
    socket.unref();
    this.spare = spare;
  }

  /**
   * The environment `env` changed in place (a warm-pool claim merged the create's variables): a spare started with it
   * holds the old values and no longer has the next command's shape, so it is replaced by one started now, while the
   * claim's answer travels to the client, instead of the client's first command paying for a new process.
   */
  renewFor(env: Readonly<Record<string, string>>): void {
    const spare = this.spare;
    if (!spare || spare.command.env !== env) return;
    this.dropSpare();
    this.prepare(spare.command);
  }

  private dropSpare(): void {
    const spare = this.spare;
    this.spare = undefined;
    if (spare) {
      // The relay sees the end of its connection and kills the program it started.
      spare.socket.destroy();
    }
  }

  /** The live spare of `cmd`'s shape, taken out of the server's hands. */
  private takeSpare(cmd: ServerCommand): Spare | undefined {
    const spare = this.spare;
    if (!spare || !cmd.stdin) return undefined;
    if (!encodeRequest(cmd, true)?.equals(spare.shape)) {
      spare.passedOver += 1;
      return undefined;
    }
    this.spare = undefined;
    spare.socket.removeAllListeners('data').removeAllListeners('close').removeAllListeners('error');
    spare.socket.ref();
    return spare;
  }

  /**
   * Runs one command through the server: in the spare of its shape if there is one, else on a new connection.
   * Undefined when the server is not ready or the command cannot be sent. `notStarted`: the command never ran (the
   * server refused or lost it, or the spare was over before it got the command); it may be run again.
   */
  run(cmd: ServerCommand, onOutput: (chunk: Buffer) => void): ServerRun | undefined {
    if (this.state !== 'ready') return undefined;
    const spare = this.takeSpare(cmd);
    let request: Buffer | undefined;
    if (spare) {
      const stdin = cmd.stdin ?? Buffer.alloc(0);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(stdin.length, 0);
      request = Buffer.concat([len, stdin]);
    } else {
      request = encodeRequest(cmd);
    }
    if (!request) return undefined;
    let pid: number | undefined;
    let killWanted = false;
    const killGroup = () => {
      try {
        if (pid) process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const result = new Promise<ServerOutcome>((resolve) => {
      const socket = spare?.socket ?? connect(this.socketPath);
      let settled = false;
      const settle = (outcome: ServerOutcome) => {
        if (settled) return;
        settled = true;
        if (spare) this.spareMisses = 'notStarted' in outcome ? this.spareMisses + 1 : 0;
        resolve(outcome);
        socket.destroy();
      };
      const reader = new FrameReader((type, data) => {
        if (type === 'O') onOutput(data);
        else if (type === 'P' && data.length === 4) {
          pid = data.readInt32LE(0);
          if (killWanted) killGroup();
        } else if (type === 'X' && data.length === 4) settle({ code: data.readInt32LE(0) });
        else if (type === 'E' && data.length === 4) {
          const errno = data.readInt32LE(0);
          const code = errnoNames.get(errno) ?? `errno ${errno}`;
          settle({ spawnError: Object.assign(new Error(`spawn ${cmd.argv[0]} ${code}`), { code, errno: -errno }) });
        }
      });
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // Refused before anything was answered: the server is gone and the command never started.
        if (pid === undefined && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
          this.gone(`unreachable (${err.code})`);
          settle({ notStarted: true });
        }
      });
      socket.on('close', () => {
        // Without a pid frame the relay never got to start the command. With one, the relay itself was killed
        // (by a timeout, or from inside the sandbox): no status to report, as for a failure that is not an exit.
        settle(pid === undefined ? { notStarted: true } : { code: -1 });
      });
      socket.end(request);
    });
    return {
      result,
      kill: () => {
        killWanted = true;
        killGroup();
      },
    };
  }
}
