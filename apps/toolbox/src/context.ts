import { isAbsolute, resolve } from 'node:path';
import type { Identity } from './identity.js';
import type { Log } from './log.js';

/** What every service needs to know about the sandbox it serves; built once in main and passed down. */
export interface ToolboxContext {
  readonly identity: Identity;
  /** The image WORKDIR or the user's home: the cwd of execute, sessions, PTYs and of relative fs paths. */
  readonly workdir: string;
  /** Environment for every child process (no SHOAL_* variables; HOME/USER/LOGNAME/SHELL of the user). */
  readonly env: Readonly<Record<string, string>>;
  /** Scratch space of this daemon instance (session scripts, execute output files). */
  readonly runtimeDir: string;
  readonly log: Log;
  /** See `userSpawn`: set inside a sandbox, where user code must not inherit the daemon's descriptors. */
  readonly execHelper?: string;
}

export function resolvePath(ctx: ToolboxContext, path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(ctx.workdir, path);
}
