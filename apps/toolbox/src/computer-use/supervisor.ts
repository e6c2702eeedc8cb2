import { spawn, type ChildProcess } from 'node:child_process';
import type { ToolboxContext } from '../context.js';
import { userSpawnPath } from '../process/user-spawn.js';

/** What `process/{name}/logs` and `/errors` show: the newest output of each stream, so a chatty process costs bounded memory. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(buf);
    this.bytes += buf.length;
    // Whole chunks go while what remains still fills the limit; then the oldest one left is cut.
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.limit) this.bytes -= this.chunks.shift()!.length;
    if (this.bytes > this.limit) {
      const excess = this.bytes - this.limit;
      this.chunks[0] = this.chunks[0]!.subarray(excess);
      this.bytes = this.limit;
    }
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface ProcessSpec {
  /** The reference's name: xvfb, xfce4, x11vnc, novnc. */
  name: string;
  /** Start order (lowest first); stop goes the other way. */
  priority: number;
  /** Absolute path, or undefined when the image lacks the program. */
  file: string | undefined;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export interface ProcessInfo {
  running: boolean;
  priority: number;
  autoRestart: boolean;
  pid?: number;
  restarts: number;
}

const LOG_LIMIT = 256 * 1024;
/** A process that stayed up this long is healthy again: its next crash is restarted right away. */
const STABLE_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
/** Crashes in a row (each within STABLE_MS of its start) after which the supervisor gives up on a process. */
const MAX_QUICK_FAILURES = 8;
const STOP_GRACE_MS = 3_000;

/**
 * One desktop program kept running: started in its own process group (so that what it forks dies with it),
 * restarted after a crash with an exponential back-off, given up on after repeated quick crashes. A crash only
 * ever ends that program: the toolbox keeps serving.
 */
export class SupervisedProcess {
  readonly logs = new TailBuffer(LOG_LIMIT);
  readonly errors = new TailBuffer(LOG_LIMIT);
  private child: ChildProcess | undefined;
  private wanted = false;
  private startedAt = 0;
  private quickFailures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;
  /** Set when the supervisor gave up (or the program is missing): the desktop's status becomes "error". */
  failed = false;

  constructor(
    private readonly ctx: ToolboxContext,
    readonly spec: ProcessSpec,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  info(): ProcessInfo {
    return { running: this.running, priority: this.spec.priority, autoRestart: true, pid: this.pid, restarts: this.restarts };
  }

  /** Starts the program unless it runs already. */
  start(): void {
    this.wanted = true;
    this.failed = false;
    this.quickFailures = 0;
    if (this.running) return;
    clearTimeout(this.restartTimer);
    this.launch();
  }

  private launch(): void {
    this.restartTimer = undefined;
    if (!this.wanted || this.running) return;
    const { file, args, env, cwd, name } = this.spec;
    if (!file) {
      this.failed = true;
      this.errors.push(`[shoal] ${name}: the program is not installed in this image\n`);
      return;
    }
    const cmd = userSpawnPath(this.ctx, file, args);
    let child: ChildProcess;
    try {
      child = spawn(cmd.file, cmd.args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.errors.push(`[shoal] could not start ${file}: ${(err as Error).message}\n`);
      this.failed = true;
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    this.logs.push(`[shoal] started ${[file, ...args].join(' ')} (pid ${child.pid ?? '?'})\n`);
    child.stdout?.on('data', (c: Buffer) => this.logs.push(c));
    child.stderr?.on('data', (c: Buffer) => this.errors.push(c));
    child.on('error', (err) => this.errors.push(`[shoal] ${name}: ${err.message}\n`));
    child.on('exit', (code, signal) => this.exited(child, code, signal));
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (!this.wanted) {
      this.logs.push(`[shoal] stopped (${how})\n`);
      return;
    }
    this.quickFailures = Date.now() - this.startedAt < STABLE_MS ? this.quickFailures + 1 : 1;
    if (this.quickFailures > MAX_QUICK_FAILURES) {
      this.failed = true;
      this.errors.push(`[shoal] ${this.spec.name} exited (${how}) ${this.quickFailures} times in a row; not restarting it again (restart it explicitly)\n`);
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.quickFailures - 1));
    this.errors.push(`[shoal] ${this.spec.name} exited (${how}); restarting in ${delay} ms\n`);
    this.restarts += 1;
    this.restartTimer = setTimeout(() => this.launch(), delay);
    this.restartTimer.unref();
  }

  /** Stops the program and its process group: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.wanted = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || !this.running || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    // Whatever the program forked and left in its group goes too (the group outlives its leader while members remain,
    // so its id cannot have been reused; the bare pid could, so there is no fallback to it here).
    signalGroup(child.pid, 'SIGKILL', false);
  }

  /** Synchronous last resort when the toolbox itself exits. */
  kill(): void {
    this.wanted = false;
    clearTimeout(this.restartTimer);
    if (this.child?.pid !== undefined) signalGroup(this.child.pid, 'SIGKILL', this.running);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals, orPid = true): void {
  try {
    process.kill(-pid, signal);
  } catch {
    if (!orPid) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
