import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Session, SessionCommand } from '@shoal/contracts';
import type { ToolboxContext } from '../context.js';
import { badRequest, conflict, notFound } from '../http/errors.js';
import {
  SESSION_IDLE_DEFAULT_SECONDS,
  SESSION_LOG_BUDGET_BYTES,
  SESSION_MAX_FINISHED_COMMANDS,
  TOTAL_LOG_BUDGET_BYTES,
} from './limits.js';
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

/** Spool accounting shared by all sessions of a daemon (see SessionsService.grow). */
interface SpoolOwner {
  grow(session: ShellSession, delta: number): void;
  finished(session: ShellSession): void;
}

export interface SessionLimits {
  sessionBudget: number;
  totalBudget: number;
  maxFinishedCommands: number;
  /** 0: sessions never expire. */
  idleMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  sessionBudget: SESSION_LOG_BUDGET_BYTES,
  totalBudget: TOTAL_LOG_BUDGET_BYTES,
  maxFinishedCommands: SESSION_MAX_FINISHED_COMMANDS,
  idleMs: SESSION_IDLE_DEFAULT_SECONDS * 1000,
};

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
  /** Spool bytes held by this session's command logs. */
  stored = 0;
  lastActive = Date.now();

  constructor(
    readonly id: string,
    readonly dir: string,
    ctx: ToolboxContext,
    shellPath: string,
    private readonly owner: SpoolOwner,
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
    const id = crypto.randomUUID();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const cmd: Command = {
      id,
      command,
      exitCode: undefined,
      log: new OutputLog(join(this.dir, `${id}.log`), (delta) => this.owner.grow(this, delta)),
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
    if (cmd.exitCode !== undefined && cmd.streamsDone.stdout && cmd.streamsDone.stderr && !cmd.log.ended) {
      cmd.log.end();
      cmd.finish();
      this.lastActive = Date.now();
      this.owner.finished(this);
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

  /** Whether a command is running or queued (a session doing work is never idle). */
  get busy(): boolean {
    return this.alive && this.commands.some((c) => !c.log.ended);
  }

  get pid(): number | undefined {
    return this.shell.pid;
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

export class SessionsService implements SpoolOwner {
  private readonly sessions = new Map<string, ShellSession>();
  private readonly shellPath = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
  /** Spool bytes held by every session's logs. */
  private stored = 0;
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ToolboxContext,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    if (limits.idleMs > 0) {
      this.sweeper = setInterval(() => void this.expireIdle(), Math.min(60_000, Math.max(100, limits.idleMs / 4)));
      this.sweeper.unref();
    }
  }

  async create(sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) throw badRequest('sessionId may only contain letters, digits and ._:@- (1–128 chars)');
    if (this.sessions.has(sessionId)) throw conflict(`session ${sessionId} already exists`);
    const dir = join(this.ctx.runtimeDir, 'sessions', sessionId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.sessions.has(sessionId)) throw conflict(`session ${sessionId} already exists`);
    this.sessions.set(sessionId, new ShellSession(sessionId, dir, this.ctx, this.shellPath, this));
  }

  get(sessionId: string): ShellSession {
    const session = this.sessions.get(sessionId);
    if (!session) throw notFound(`session ${sessionId} not found`);
    session.lastActive = Date.now();
    return session;
  }

  list(): Session[] {
    return [...this.sessions.values()].map((s) => s.toJSON());
  }

  async remove(sessionId: string): Promise<void> {
    const session = this.get(sessionId);
    this.sessions.delete(sessionId);
    this.drop(session);
    await rm(session.dir, { recursive: true, force: true });
  }

  private drop(session: ShellSession): void {
    session.kill();
    for (const cmd of session.commands) cmd.log.evict(`[shoal: session ${session.id} was deleted]`);
  }

  async execute(sessionId: string, command: string): Promise<Command> {
    return this.get(sessionId).run(command);
  }

  command(sessionId: string, commandId: string): Command {
    const cmd = this.get(sessionId).commands.find((c) => c.id === commandId);
    if (!cmd) throw notFound(`command ${commandId} not found in session ${sessionId}`);
    return cmd;
  }

  /**
   * Called whenever a log's spool grows or shrinks. A running command's log is bounded by itself (head + tail);
   * beyond the session's budget, then beyond the daemon's, the logs of finished commands go, oldest first.
   */
  grow(session: ShellSession, delta: number): void {
    session.stored += delta;
    this.stored += delta;
    if (delta <= 0) return;
    if (session.stored > this.limits.sessionBudget) {
      this.evictFinished(session, () => session.stored > this.limits.sessionBudget, 'session');
    }
    if (this.stored > this.limits.totalBudget) {
      for (const other of this.sessions.values()) {
        this.evictFinished(other, () => this.stored > this.limits.totalBudget, 'toolbox');
        if (this.stored <= this.limits.totalBudget) break;
      }
    }
  }

  private evictFinished(session: ShellSession, over: () => boolean, scope: 'session' | 'toolbox'): void {
    const budget = scope === 'session' ? this.limits.sessionBudget : this.limits.totalBudget;
    for (const cmd of session.commands) {
      if (!over()) return;
      if (!cmd.log.ended || cmd.log.evicted || cmd.log.stored === 0) continue;
      cmd.log.evict(
        `[shoal: the output of this command was evicted: logs of finished commands are kept up to ${budget / 1024 / 1024} MiB per ${scope}]`,
      );
    }
  }

  /** Forgets the oldest finished commands of a session beyond the limit, logs included. */
  finished(session: ShellSession): void {
    let excess = session.commands.filter((c) => c.log.ended).length - this.limits.maxFinishedCommands;
    for (let i = 0; excess > 0 && i < session.commands.length; ) {
      const cmd = session.commands[i]!;
      if (!cmd.log.ended) {
        i += 1;
        continue;
      }
      cmd.log.evict('[shoal: this command was forgotten]');
      session.commands.splice(i, 1);
      excess -= 1;
    }
  }

  /**
   * Deletes sessions idle for longer than the limit: nothing running or queued, no request naming them, and no
   * process left from them (a server started in the background keeps its session).
   */
  async expireIdle(now = Date.now()): Promise<string[]> {
    const candidates = [...this.sessions.values()].filter((s) => !s.busy && now - s.lastActive > this.limits.idleMs);
    if (candidates.length === 0) return [];
    const groups = await processGroups();
    const expired: string[] = [];
    for (const session of candidates) {
      if (this.sessions.get(session.id) !== session || session.busy || now - session.lastActive <= this.limits.idleMs) continue;
      if (session.alive && session.pid !== undefined && (groups.get(session.pid) ?? 0) > 1) continue;
      this.sessions.delete(session.id);
      this.drop(session);
      await rm(session.dir, { recursive: true, force: true });
      this.ctx.log(`session ${session.id} expired after ${Math.round(this.limits.idleMs / 1000)} s idle`);
      expired.push(session.id);
    }
    return expired;
  }

  shutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const session of this.sessions.values()) session.kill();
    this.sessions.clear();
  }
}

/** Number of live processes per process group, from /proc. */
async function processGroups(): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        // pid (comm) state ppid pgrp ...: comm may contain spaces and parentheses, so split after the last ')'.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const pgrp = Number(fields[2]);
        if (fields[0] !== 'Z' && Number.isInteger(pgrp) && pgrp > 0) counts.set(pgrp, (counts.get(pgrp) ?? 0) + 1);
      }),
  );
  return counts;
}

export type { Command as SessionCommandState };
