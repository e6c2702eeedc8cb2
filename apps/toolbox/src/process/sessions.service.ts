import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Session, SessionCommand } from '@shoal/contracts';
import type { ToolboxContext } from '../context.js';
import { badRequest, conflict, notFound } from '../http/errors.js';
import { OutputLog, type StreamKind } from './output-log.js';
import { userSpawnPath } from './user-spawn.js';

interface Command {
  id: string;
  command: string;
  exitCode: number | undefined;
  log: OutputLog;
  /** Written by the shell on stdout and on stderr once the command is over; everything before it is the command's. */
  sentinel: Buffer;
  streamsDone: Record<StreamKind, boolean>;
  finished: Promise<void>;
  finish: () => void;
}

const SESSION_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * One long-lived shell per session, so `cd` and `export` persist between commands. Each command is written to a file
 * and sourced (`. file`): a syntax error in one command stays inside that command instead of derailing the shell's
 * parser for the ones that follow. After it, the shell prints a per-command sentinel on stdout and stderr (marking
 * where this command's output ends on each pipe) and its exit status on fd 3. Commands run one after another, in
 * the order they were submitted, exactly as the shell reads them.
 */
class ShellSession {
  readonly commands: Command[] = [];
  private readonly pending: Record<StreamKind, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  private statusBuffer = '';
  private readonly shell: ChildProcess;
  alive = true;

  constructor(
    readonly id: string,
    private readonly dir: string,
    ctx: ToolboxContext,
    shellPath: string,
  ) {
    // fd 3 is the status pipe: kept for the shell, closed for each command (`3>&-` below).
    const command = userSpawnPath(ctx, shellPath, [], 4);
    this.shell = spawn(command.file, command.args, {
      cwd: ctx.workdir,
      env: ctx.env,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.shell.stdin?.on('error', () => undefined);
    this.shell.stdout?.on('data', (chunk: Buffer) => this.onOutput('stdout', chunk));
    this.shell.stderr?.on('data', (chunk: Buffer) => this.onOutput('stderr', chunk));
    (this.shell.stdio[3] as Readable).on('data', (chunk: Buffer) => this.onStatus(chunk.toString('utf8')));
    this.shell.on('error', () => this.onShellExit(-1));
    this.shell.on('exit', (code, signal) => this.onShellExit(code ?? (signal ? 137 : -1)));
  }

  async run(command: string): Promise<Command> {
    if (!this.alive) throw badRequest(`session ${this.id} has exited`);
    const id = randomUUID();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const cmd: Command = {
      id,
      command,
      exitCode: undefined,
      log: new OutputLog(),
      sentinel: Buffer.from(`\x1eSHOAL-END-${id}\x1e`),
      streamsDone: { stdout: false, stderr: false },
      finished,
      finish,
    };
    const script = join(this.dir, `${id}.sh`);
    await writeFile(script, command.endsWith('\n') ? command : `${command}\n`, { mode: 0o600 });
    this.commands.push(cmd);
    const sentinel = cmd.sentinel.toString('latin1');
    this.shell.stdin?.write(
      `. '${script}' </dev/null 3>&-; __shoal_rc=$?; printf '%s' '${sentinel}'; printf '%s' '${sentinel}' >&2; ` +
        `printf '%s %s\\n' '${id}' "$__shoal_rc" >&3; rm -f '${script}'\n`,
    );
    return cmd;
  }

  /** The command whose output a stream is currently carrying: the oldest whose sentinel has not come by. */
  private current(kind: StreamKind): Command | undefined {
    return this.commands.find((c) => !c.streamsDone[kind]);
  }

  private onOutput(kind: StreamKind, chunk: Buffer): void {
    let data = this.pending[kind].length ? Buffer.concat([this.pending[kind], chunk]) : chunk;
    this.pending[kind] = Buffer.alloc(0);
    for (;;) {
      const cmd = this.current(kind);
      if (!cmd) return; // Output of background jobs between commands belongs to no command.
      const at = data.indexOf(cmd.sentinel);
      if (at !== -1) {
        cmd.log.append(kind, data.subarray(0, at));
        cmd.streamsDone[kind] = true;
        data = data.subarray(at + cmd.sentinel.length);
        this.settle(cmd);
        continue;
      }
      // Hold back a tail that could be the start of a sentinel split across reads.
      let keep = Math.min(data.length, cmd.sentinel.length - 1);
      while (keep > 0 && !data.subarray(data.length - keep).equals(cmd.sentinel.subarray(0, keep))) keep -= 1;
      cmd.log.append(kind, data.subarray(0, data.length - keep));
      this.pending[kind] = Buffer.from(data.subarray(data.length - keep));
      return;
    }
  }

  private onStatus(text: string): void {
    this.statusBuffer += text;
    let newline: number;
    while ((newline = this.statusBuffer.indexOf('\n')) !== -1) {
      const line = this.statusBuffer.slice(0, newline);
      this.statusBuffer = this.statusBuffer.slice(newline + 1);
      const [id, code] = line.trim().split(' ');
      const cmd = this.commands.find((c) => c.id === id);
      if (cmd && cmd.exitCode === undefined) {
        cmd.exitCode = Number(code);
        this.settle(cmd);
      }
    }
  }

  private settle(cmd: Command): void {
    if (cmd.exitCode !== undefined && cmd.streamsDone.stdout && cmd.streamsDone.stderr) {
      cmd.log.end();
      cmd.finish();
    }
  }

  private onShellExit(code: number): void {
    if (!this.alive) return;
    this.alive = false;
    for (const kind of ['stdout', 'stderr'] as const) {
      const rest = this.pending[kind];
      const cmd = this.current(kind);
      if (cmd && rest.length) cmd.log.append(kind, rest);
    }
    // `exit` in a command ends the shell: that command exits with the shell's status; queued ones never ran.
    for (const cmd of this.commands) {
      if (cmd.exitCode === undefined) cmd.exitCode = code;
      cmd.streamsDone.stdout = cmd.streamsDone.stderr = true;
      this.settle(cmd);
    }
  }

  kill(): void {
    if (this.shell.pid) {
      try {
        process.kill(-this.shell.pid, 'SIGKILL');
      } catch {
        this.shell.kill('SIGKILL');
      }
    }
    this.onShellExit(137);
  }

  toJSON(): Session {
    return { sessionId: this.id, commands: this.commands.map(commandInfo) };
  }
}

export function commandInfo(cmd: Command): SessionCommand {
  return cmd.exitCode === undefined || !cmd.log.ended
    ? { id: cmd.id, command: cmd.command }
    : { id: cmd.id, command: cmd.command, exitCode: cmd.exitCode };
}

export class SessionsService {
  private readonly sessions = new Map<string, ShellSession>();
  private readonly shellPath = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';

  constructor(private readonly ctx: ToolboxContext) {}

  async create(sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) throw badRequest('sessionId may only contain letters, digits and ._:@- (1–128 chars)');
    if (this.sessions.has(sessionId)) throw conflict(`session ${sessionId} already exists`);
    const dir = join(this.ctx.runtimeDir, 'sessions', sessionId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.sessions.has(sessionId)) throw conflict(`session ${sessionId} already exists`);
    this.sessions.set(sessionId, new ShellSession(sessionId, dir, this.ctx, this.shellPath));
  }

  get(sessionId: string): ShellSession {
    const session = this.sessions.get(sessionId);
    if (!session) throw notFound(`session ${sessionId} not found`);
    return session;
  }

  list(): Session[] {
    return [...this.sessions.values()].map((s) => s.toJSON());
  }

  async remove(sessionId: string): Promise<void> {
    const session = this.get(sessionId);
    this.sessions.delete(sessionId);
    session.kill();
    await rm(join(this.ctx.runtimeDir, 'sessions', sessionId), { recursive: true, force: true });
  }

  async execute(sessionId: string, command: string): Promise<Command> {
    return this.get(sessionId).run(command);
  }

  command(sessionId: string, commandId: string): Command {
    const cmd = this.get(sessionId).commands.find((c) => c.id === commandId);
    if (!cmd) throw notFound(`command ${commandId} not found in session ${sessionId}`);
    return cmd;
  }

  shutdown(): void {
    for (const session of this.sessions.values()) session.kill();
    this.sessions.clear();
  }
}

export type { Command as SessionCommandState };
