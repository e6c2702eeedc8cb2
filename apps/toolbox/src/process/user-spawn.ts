import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { ToolboxContext } from '../context.js';

/**
 * Every process the toolbox starts for the user (execute, sessions, PTYs, git) goes through here.
 *
 * Inside a sandbox the daemon holds descriptors user code must never see: the listening socket the runner passed
 * it as fd 3 (libuv leaves a descriptor given to `listen({ fd })` inheritable) and whatever else was opened without
 * O_CLOEXEC. Node cannot close descriptors in a child between fork and exec, so the command is started through the
 * runner's static `shoal-exec`, which closes every descriptor from `closeFrom` up and execs the command.
 */
export interface UserSpawn {
  file: string;
  args: string[];
}

/** Where `execvp` would find `file`, or undefined (ENOENT). A found but non-executable file is returned so that the exec reports EACCES. */
export async function resolveExecutable(file: string, path: string | undefined, cwd: string): Promise<string | undefined> {
  if (file.includes('/')) return file;
  let denied: string | undefined;
  for (const dir of (path ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir || cwd, file);
    try {
      if (!(await stat(candidate)).isFile()) continue;
    } catch {
      continue;
    }
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      denied ??= candidate;
    }
  }
  return denied;
}

/** An ENOENT error shaped like the one `child_process.spawn` emits, so callers keep one error path. */
export function notFound(file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT', errno: -2, syscall: `spawn ${file}`, path: file });
}

/**
 * The file and argv to spawn for `file args`. `closeFrom` is the first descriptor closed in the child (sessions keep
 * their status pipe on fd 3). Without a helper (the toolbox run outside a sandbox, in tests) the command is spawned
 * as is. Rejects with an ENOENT error when `file` is not on PATH.
 */
export async function userSpawn(
  ctx: ToolboxContext,
  file: string,
  args: string[],
  cwd: string,
  closeFrom = 3,
  options: { capture?: boolean } = {},
): Promise<UserSpawn> {
  if (!ctx.execHelper) return { file, args };
  const resolved = await resolveExecutable(file, ctx.env.PATH, cwd);
  if (resolved === undefined) throw notFound(file);
  return throughHelper(ctx, resolved, file, args, closeFrom, options.capture === true);
}

/** Same as `userSpawn` for a program given by absolute path (the user's shell), where there is nothing to look up. */
export function userSpawnPath(ctx: ToolboxContext, path: string, args: string[], closeFrom = 3): UserSpawn {
  return ctx.execHelper ? throughHelper(ctx, path, path, args, closeFrom) : { file: path, args };
}

/** `capture`: stdout and stderr become one pipe the helper relays to its stdout until the command exits (shoal-exec.c). */
function throughHelper(ctx: ToolboxContext, resolved: string, argv0: string, args: string[], closeFrom: number, capture = false): UserSpawn {
  const options = [...(closeFrom === 3 ? [] : [`--close-from=${closeFrom}`]), ...(capture ? ['--capture'] : [])];
  return { file: ctx.execHelper!, args: [...options, resolved, argv0, ...args] };
}
