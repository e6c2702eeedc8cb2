import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ToolboxContext } from './context.js';
import { userSpawn } from './process/user-spawn.js';

/**
 * Starts the snapshot's entrypoint once, as the sandbox user, in the working directory, with the user environment and
 * no inherited descriptor (through the exec helper like every user process). Its output goes to `entrypoint.log` in
 * the daemon's scratch directory. A missing program or a non-zero exit is logged; the sandbox keeps running.
 */
export function startEntrypoint(ctx: ToolboxContext, argv: string[]): void {
  const [file, ...args] = argv as [string, ...string[]];
  void (async () => {
    let out: number | 'ignore' = 'ignore';
    try {
      out = openSync(join(ctx.runtimeDir, 'entrypoint.log'), 'a', 0o600);
    } catch {
      /* no log: still run it */
    }
    try {
      const cmd = await userSpawn(ctx, file, args, ctx.workdir);
      const child = spawn(cmd.file, cmd.args, { cwd: ctx.workdir, env: { ...ctx.env }, stdio: ['ignore', out, out], detached: true });
      child.on('error', (err) => ctx.log(`entrypoint ${file} failed to start: ${err.message}`));
      child.on('exit', (code, signal) => ctx.log(`entrypoint ${file} exited (${signal ?? `code ${code}`})`));
      child.unref();
      ctx.log(`entrypoint ${file} started (pid ${child.pid})`);
    } catch (err) {
      ctx.log(`entrypoint ${file} failed to start: ${(err as Error).message}`);
    } finally {
      if (typeof out === 'number') closeSync(out);
    }
  })();
}
