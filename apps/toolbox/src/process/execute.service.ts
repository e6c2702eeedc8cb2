import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EXECUTE_DEFAULT_TIMEOUT_SECONDS, type ExecuteRequest, type ExecuteResponse } from '@shoal/contracts';
import { resolvePath, type ToolboxContext } from '../context.js';
import { badRequest, fromErrno, requestTimeout } from '../http/errors.js';
import { splitCommand } from './split-command.js';
import { userSpawn } from './user-spawn.js';

/** Linux O_TMPFILE (includes O_DIRECTORY): an unnamed file that vanishes with its last descriptor. */
const O_TMPFILE = 0o20200000;

/**
 * stdout and stderr go to ONE file descriptor, as with `2>&1`: the only way to keep their interleaving exactly as
 * the process wrote it (two pipes are read in whatever order the event loop sees them). A file rather than a pipe
 * also means a background job that keeps the descriptor open cannot hold the response hostage.
 */
async function openCapture(dir: string): Promise<FileHandle> {
  try {
    return await open(dir, constants.O_RDWR | O_TMPFILE, 0o600);
  } catch {
    const path = join(dir, `exec-${randomBytes(8).toString('hex')}.out`);
    const handle = await open(path, 'w+', 0o600);
    await unlink(path).catch(() => undefined);
    return handle;
  }
}

async function readAll(handle: FileHandle): Promise<string> {
  const { size } = await handle.stat();
  if (size === 0) return '';
  const buffer = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const { bytesRead } = await handle.read(buffer, offset, size - offset, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return buffer.subarray(0, offset).toString('utf8');
}

const signalNumbers: Record<string, number> = osConstants.signals as unknown as Record<string, number>;

export class ExecuteService {
  constructor(private readonly ctx: ToolboxContext) {}

  async execute(request: ExecuteRequest): Promise<ExecuteResponse> {
    const argv = splitCommand(request.command);
    const [file, ...args] = argv;
    if (file === undefined) throw badRequest('command is empty');
    const timeoutSeconds = request.timeout && request.timeout > 0 ? request.timeout : EXECUTE_DEFAULT_TIMEOUT_SECONDS;
    const cwd = request.cwd ? resolvePath(this.ctx, request.cwd) : this.ctx.workdir;
    try {
      if (!(await stat(cwd)).isDirectory()) throw badRequest(`cwd ${request.cwd}: not a directory`);
    } catch (err) {
      throw fromErrno(err, `cwd ${request.cwd}`);
    }

    const capture = await openCapture(this.ctx.runtimeDir);
    try {
      const command = await userSpawn(this.ctx, file, args, cwd).catch((err: Error) => err);
      const outcome = await new Promise<{ code: number; timedOut: boolean } | { spawnError: Error }>((resolve) => {
        if (command instanceof Error) {
          resolve({ spawnError: command });
          return;
        }
        let child: ChildProcess;
        try {
          child = spawn(command.file, command.args, {
            cwd,
            env: this.ctx.env,
            stdio: ['ignore', capture.fd, capture.fd],
            // Own process group, so that a timeout kills everything the command started, not just `sh`.
            detached: true,
          });
        } catch (err) {
          resolve({ spawnError: err as Error });
          return;
        }
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          try {
            if (child.pid) process.kill(-child.pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }, timeoutSeconds * 1000);
        child.once('error', (err) => {
          clearTimeout(timer);
          resolve({ spawnError: err });
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code: code ?? 128 + (signal ? (signalNumbers[signal] ?? 0) : 0), timedOut });
        });
      });
      if ('spawnError' in outcome) {
        // Daytona's daemon reports failures that are not an exit status as code -1.
        const err = outcome.spawnError as NodeJS.ErrnoException;
        if (err.code === 'E2BIG') throw badRequest('command is too long for the kernel (each argument must stay under 128 KiB)');
        const reason = err.code === 'ENOENT' ? 'executable file not found' : err.message;
        return { exitCode: -1, result: `exec: "${file}": ${reason}` };
      }
      if (outcome.timedOut) throw requestTimeout('command execution timeout');
      return { exitCode: outcome.code, result: await readAll(capture) };
    } finally {
      await capture.close().catch(() => undefined);
    }
  }
}
