import { spawn } from 'node:child_process';
import type { ToolboxContext } from '../context.js';
import { ToolboxError } from '../http/errors.js';
import { userSpawnPath } from '../process/user-spawn.js';

export interface RunOptions {
  display: string;
  timeoutMs?: number;
  /** Largest stdout kept; a screenshot of a big screen is a few MiB. */
  maxBytes?: number;
  /** Written to the program's stdin (raw pixels for convert). */
  input?: Buffer;
}

/**
 * Runs one short X client (xdotool, convert, wmctrl) against the desktop's display and returns its stdout. A
 * failure is the desktop's problem, not the caller's: it becomes a 500 that carries the program's own stderr.
 */
export function runX(ctx: ToolboxContext, file: string, args: string[], options: RunOptions): Promise<Buffer> {
  const { display, timeoutMs = 15_000, maxBytes = 64 * 1024 * 1024, input } = options;
  const cmd = userSpawnPath(ctx, file, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.file, cmd.args, {
      env: { ...ctx.env, DISPLAY: display },
      cwd: ctx.identity.home || '/',
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    if (input) {
      // A program that exits early (bad arguments) closes its stdin: its exit status tells why, not EPIPE.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `${file} did not finish within ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > maxBytes) {
        failure ??= `${file} wrote more than ${maxBytes} bytes`;
        child.kill('SIGKILL');
        return;
      }
      out.push(c);
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (err.length < 8192) err += c.toString('utf8');
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ToolboxError(500, `${file}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(new ToolboxError(500, failure));
      if (code !== 0) {
        const why = err.trim().split('\n').slice(-3).join('; ') || (signal ? `killed by ${signal}` : `exit code ${code}`);
        return reject(new ToolboxError(500, `${file.split('/').pop()} failed: ${why}`));
      }
      resolve(Buffer.concat(out));
    });
  });
}
