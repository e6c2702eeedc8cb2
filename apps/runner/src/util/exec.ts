import { spawn, type StdioOptions } from 'node:child_process';
import { spawner } from './spawner.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Extra stdio slots (index 3+) passed to the child, e.g. a listening socket fd. */
  extraFds?: number[];
  /** Where the child's stdout/stderr go instead of being captured (an open fd). */
  outputFd?: number;
  allowFailure?: boolean;
}

export class ExecError extends Error {
  constructor(
    readonly command: string,
    readonly result: ExecResult,
  ) {
    super(`${command} exited with ${result.code}: ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  }
}

/**
 * Runs a program without a shell (arguments are never interpreted), capturing output.
 * Children get a minimal environment unless one is given: the runner's own environment must not leak into
 * sandbox tooling (e.g. NODE_EXTRA_CA_CERTS).
 */
export function exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const env = opts.env ?? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  // Descriptors cannot cross to the spawner: a run that hands one over is forked here.
  const viaSpawner = opts.extraFds === undefined && opts.outputFd === undefined ? spawner() : undefined;
  if (viaSpawner) {
    return viaSpawner.run({ file, args, env, ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) }).then((result) => {
      if (result.code !== 0 && !opts.allowFailure) throw new ExecError([file, ...args].join(' '), result);
      return result;
    });
  }
  return new Promise((resolve, reject) => {
    const out: 'pipe' | number = opts.outputFd !== undefined ? opts.outputFd : 'pipe';
    const stdio: StdioOptions = [opts.input !== undefined ? 'pipe' : 'ignore', out, out, ...(opts.extraFds ?? [])] as StdioOptions;
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env,
      stdio,
      // A session of its own: Ctrl-C in a terminal signals the runner's whole process group, and a helper killed
      // halfway (a runtime between fork and writing its state, a mount helper) leaves what it made untracked. The
      // runner handles the signal and finishes or undoes each step itself.
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => stdout.push(d));
    child.stderr?.on('data', (d: Buffer) => stderr.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (result.code !== 0 && !opts.allowFailure) reject(new ExecError([file, ...args].join(' '), result));
      else resolve(result);
    });
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
  });
}
