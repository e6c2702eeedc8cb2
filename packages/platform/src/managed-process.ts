import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { forgetPid, recordPid } from './leftovers.js';

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Receives every output line, already prefixed with the process name. */
  log: (line: string) => void;
  /**
   * Start the process in a process group of its own: a Ctrl-C in the terminal (SIGINT to the whole foreground group)
   * then does not reach it, and it ends only when the supervisor stops it, in the supervisor's order.
   */
  ownProcessGroup?: boolean;
  /**
   * Where the process's PID and start time are recorded while it runs, so that the next start can end it if the
   * supervisor was killed without stopping it (see leftovers.ts).
   */
  pidFile?: string;
}

/**
 * One platform process (API, runner, registry) supervised by `shoal up` or a test harness. It keeps the output
 * flowing into one log and makes the process's PID and exit observable, so fault tests can SIGKILL it and start it again.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private readonly waiters: Array<(line: string) => void> = [];

  constructor(private readonly opts: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const child = spawn(this.opts.command, this.opts.args, {
      cwd: this.opts.cwd,
      env: this.opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.opts.ownProcessGroup === true,
    });
    this.child = child;
    const pidFile = this.opts.pidFile;
    if (pidFile && child.pid !== undefined) {
      recordPid(pidFile, child.pid);
      child.on('exit', () => forgetPid(pidFile, child.pid!));
    }
    const onLine = (line: string) => {
      // Processes that already tag their own lines (`[runner] ...`) are not tagged twice.
      this.opts.log(line.startsWith(`[${this.opts.name}]`) ? line : `[${this.opts.name}] ${line}`);
      for (const w of this.waiters) w(line);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.on('error', (err) => this.opts.log(`[${this.opts.name}] failed to start: ${err.message}`));
  }

  /** Resolves with the first output line matching `re`; rejects if the process exits first or time runs out. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.opts.name}: no line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (line: string) => {
        if (re.test(line)) {
          cleanup();
          resolve(line);
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      this.waiters.push(waiter);
      void this.exited.then((code) => {
        if (this.waiters.includes(waiter)) {
          cleanup();
          reject(new Error(`${this.opts.name} exited with code ${code} before it was ready`));
        }
      });
    });
  }

  /** Sends `signal`, waits up to `graceMs`, then SIGKILLs. Resolves when the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL without grace: what a crash looks like to everyone else. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }
}
