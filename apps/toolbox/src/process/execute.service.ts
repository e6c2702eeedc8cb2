import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EXECUTE_DEFAULT_TIMEOUT_SECONDS, type ExecuteRequest, type ExecuteResponse } from '@shoal/contracts';
import { resolvePath, type ToolboxContext } from '../context.js';
import { badRequest, fromErrno, requestTimeout } from '../http/errors.js';
import { BoundedCapture } from './capture.js';
import { ExecServer, type ServerCommand } from './exec-server.js';
import { EXEC_OUTPUT_MAX_BYTES } from './limits.js';
import { unwrapSdkCommand } from './sdk-wrapping.js';
import { splitCommand } from './split-command.js';
import { PathLookups } from './path-lookups.js';
import { notFound, userSpawn } from './user-spawn.js';

/**
 * Without the exec helper (dev mode) stdout and stderr are two pipes, merged in arrival order, and a background job
 * holding them open is waited for this long after the command exits.
 */
const DEV_BACKGROUND_GRACE_MS = 200;

const signalNumbers: Record<string, number> = osConstants.signals as unknown as Record<string, number>;

/** After the first execute answered, the exec server is started this much later (off the first command's path). */
const SERVER_START_DELAY_MS = 20;

type Outcome = { code: number; timedOut: boolean } | { spawnError: Error };

/** One command to start: `file` as the user wrote it (looked up on PATH), stdin the SDK's decoded script if any. */
interface Launch {
  file: string;
  args: string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  stdin: Buffer | undefined;
  timeoutSeconds: number;
  capture: BoundedCapture;
}

export class ExecuteService {
  /** Inside a sandbox: commands start from `shoal-exec --serve` once it runs (exec-server.ts). */
  private readonly server: ExecServer | undefined;
  /** Where commands' programs were found on PATH (path-lookups.ts). */
  private readonly lookups = new PathLookups();

  constructor(private readonly ctx: ToolboxContext) {
    this.server = ctx.execHelper ? new ExecServer(ctx.execHelper, join(ctx.runtimeDir, 'exec.sock'), ctx.log) : undefined;
  }

  shutdown(): void {
    this.server?.stop();
    this.lookups.close();
  }

  /** The runner merged variables into `ctx.env` (routes/control.routes.ts). */
  envChanged(): void {
    this.server?.renewFor(this.ctx.env);
  }

  async execute(request: ExecuteRequest): Promise<ExecuteResponse> {
    const split = splitCommand(request.command);
    // The SDK's base64 wrapping, decoded here instead of by three extra processes (sdk-wrapping.ts).
    const unwrapped = unwrapSdkCommand(split);
    const [file, ...args] = unwrapped ? ['sh'] : split;
    const env = unwrapped && Object.keys(unwrapped.env).length > 0 ? { ...this.ctx.env, ...unwrapped.env } : this.ctx.env;
    if (file === undefined) throw badRequest('command is empty');
    const timeoutSeconds = request.timeout && request.timeout > 0 ? request.timeout : EXECUTE_DEFAULT_TIMEOUT_SECONDS;
    const cwd = request.cwd ? resolvePath(this.ctx, request.cwd) : this.ctx.workdir;
    try {
      if (!(await stat(cwd)).isDirectory()) throw badRequest(`cwd ${request.cwd}: not a directory`);
    } catch (err) {
      throw fromErrno(err, `cwd ${request.cwd}`);
    }

    // Output never touches a disk: shoal-exec --capture gives the command one pipe for stdout and stderr (exact
    // interleaving, and a full or read-only disk cannot lose it) and hands it over here, where only a bounded head and
    // tail are kept.
    const capture = new BoundedCapture(EXEC_OUTPUT_MAX_BYTES / 2, EXEC_OUTPUT_MAX_BYTES / 2);
    const stdin = unwrapped?.script;
    const launch: Launch = { file, args, cwd, env, stdin, timeoutSeconds, capture };
    const outcome = (await this.throughServer(launch)) ?? (await this.spawnHere(launch));
    this.server?.start(SERVER_START_DELAY_MS);
    if ('spawnError' in outcome) {
      // Daytona's daemon reports failures that are not an exit status as code -1.
      const err = outcome.spawnError as NodeJS.ErrnoException;
      if (err.code === 'E2BIG') throw badRequest('command is too long for the kernel (each argument must stay under 128 KiB)');
      const reason = err.code === 'ENOENT' ? 'executable file not found' : err.message;
      return { exitCode: -1, result: `exec: "${file}": ${reason}` };
    }
    if (outcome.timedOut) throw requestTimeout('command execution timeout');
    return { exitCode: outcome.code, result: capture.result().toString('utf8') };
  }

  /** Through the exec server, when it runs; undefined when the command has to be spawned here instead. */
  private async throughServer(launch: Launch): Promise<Outcome | undefined> {
    const server = this.server;
    const { file, args, cwd, env, stdin } = launch;
    if (!server?.ready) return undefined;
    const resolved = await this.lookups.resolve(file, env.PATH, cwd);
    if (resolved === undefined) return { spawnError: notFound(file) };
    const command: ServerCommand = { file: resolved, argv: [file, ...args], cwd, env, ...(stdin ? { stdin } : {}) };
    // notStarted: the command never ran (a spare that was over before it came, a relay lost): once more, anew.
    const outcome = (await this.onServer(server, command, launch)) ?? (await this.onServer(server, command, launch));
    if (outcome && 'spawnError' in outcome) this.lookups.forget();
    // The SDK's next command most likely has this shape again: its process is started between commands, once this
    // answer is written (under strace, the connect and the server's fork came before the answer's write; without
    // strace no difference was measured either way).
    if (outcome && stdin) setImmediate(() => server.prepare(command));
    return outcome;
  }

  /** One run through the server; undefined if the command did not start there. */
  private async onServer(server: ExecServer, command: ServerCommand, launch: Launch): Promise<Outcome | undefined> {
    const { capture } = launch;
    const run = server.run(command, (c) => capture.append(c));
    if (!run) return undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      run.kill();
    }, launch.timeoutSeconds * 1000);
    const result = await run.result;
    clearTimeout(timer);
    if ('notStarted' in result) return undefined;
    return 'spawnError' in result ? result : { code: result.code, timedOut };
  }

  /** Spawned from the daemon (through shoal-exec --capture inside a sandbox). */
  private async spawnHere(launch: Launch): Promise<Outcome> {
    const { file, args, cwd, env, stdin, timeoutSeconds, capture } = launch;
    const command = await userSpawn(this.ctx, file, args, cwd, 3, { capture: true }).catch((err: Error) => err);
    return new Promise<Outcome>((resolve) => {
      if (command instanceof Error) {
        resolve({ spawnError: command });
        return;
      }
      let child: ChildProcess;
      try {
        child = spawn(command.file, command.args, {
          cwd,
          env,
          // The decoded SDK script goes in on stdin, as the pipeline it replaces fed it to sh.
          stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
          // Own process group, so that a timeout kills everything the command started, not just `sh`.
          detached: true,
        });
      } catch (err) {
        resolve({ spawnError: err as Error });
        return;
      }
      if (stdin && child.stdin) {
        // A script that exits before reading all of its input closes the pipe (EPIPE): not an error, as with `| sh`.
        child.stdin.on('error', () => undefined);
        child.stdin.end(stdin);
      }
      child.stdout?.on('data', (chunk: Buffer) => capture.append(chunk));
      child.stderr?.on('data', (chunk: Buffer) => capture.append(chunk));
      let timedOut = false;
      let exit: { code: number } | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeoutSeconds * 1000);
      const done = () => {
        clearTimeout(timer);
        resolve({ code: exit?.code ?? -1, timedOut });
      };
      child.once('error', (err) => {
        clearTimeout(timer);
        resolve({ spawnError: err });
      });
      child.once('exit', (code, signal) => {
        exit = { code: code ?? 128 + (signal ? (signalNumbers[signal] ?? 0) : 0) };
        if (this.ctx.execHelper) return; // The helper closes its output when the command is over: 'close' follows.
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          done();
        }, DEV_BACKGROUND_GRACE_MS).unref();
      });
      // After 'exit' and the end of the output the helper relayed (it exits once the command's own output is copied).
      child.once('close', done);
    });
  }
}
