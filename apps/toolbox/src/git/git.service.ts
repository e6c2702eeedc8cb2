import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type {
  GitCloneRequest,
  GitCommitInfo,
  GitCommitRequest,
  GitStatus,
} from '@shoal/contracts';
import { resolvePath, type ToolboxContext } from '../context.js';
import { badRequest, fromErrno, ToolboxError } from '../http/errors.js';
import { userSpawn } from '../process/user-spawn.js';
import { parseStatusV2 } from './git-status.js';

interface Credentials {
  username?: string | undefined;
  password?: string | undefined;
}

/**
 * Supplies credentials without putting them in argv, the remote URL or git's config: the helper reads them from
 * two variables set only in that one git process's environment.
 */
const CREDENTIAL_HELPER =
  '!f() { test "$1" = get || exit 0; echo "username=${TOOLBOX_GIT_USERNAME}"; echo "password=${TOOLBOX_GIT_PASSWORD}"; }; f';

/** Masks `user:password@` in URLs that git echoes back in its error messages. */
function redact(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
}

export class GitService {
  constructor(private readonly ctx: ToolboxContext) {}

  private async repo(path: string): Promise<string> {
    const abs = resolvePath(this.ctx, path);
    try {
      if (!(await stat(abs)).isDirectory()) throw badRequest(`${path}: not a directory`);
    } catch (err) {
      throw fromErrno(err, path);
    }
    return abs;
  }

  /** Runs git as the sandbox user; a non-zero exit becomes a 400 carrying git's own (redacted) message. */
  private async run(cwd: string, args: string[], credentials: Credentials = {}, extraEnv: Record<string, string> = {}): Promise<string> {
    const env: Record<string, string> = {
      ...this.ctx.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: this.ctx.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
      ...extraEnv,
    };
    delete env.GIT_ASKPASS;
    delete env.SSH_ASKPASS;
    const prefix: string[] = [];
    if (credentials.username || credentials.password) {
      env.TOOLBOX_GIT_USERNAME = credentials.username ?? '';
      env.TOOLBOX_GIT_PASSWORD = credentials.password ?? '';
      prefix.push('-c', 'credential.helper=', '-c', `credential.helper=${CREDENTIAL_HELPER}`);
    }
    const notInstalled = () => badRequest('git is not installed in this sandbox');
    const command = await userSpawn(this.ctx, 'git', [...prefix, ...args], cwd).catch(() => undefined);
    if (!command) throw notInstalled();
    return new Promise((resolve, reject) => {
      const child = spawn(command.file, command.args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'ENOENT' ? notInstalled() : badRequest(`git: ${e.message}`)),
      );
      child.once('close', (code) => {
        if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
        const message = redact(Buffer.concat(err).toString('utf8').trim() || Buffer.concat(out).toString('utf8').trim());
        reject(new ToolboxError(400, message || `git ${args[0]} failed with exit code ${code}`));
      });
    });
  }

  async clone(request: GitCloneRequest): Promise<void> {
    const target = resolvePath(this.ctx, request.path);
    const args = ['clone'];
    if (request.branch) args.push('--branch', request.branch);
    args.push('--', request.url, target);
    await this.run(this.ctx.workdir, args, request);
    if (request.commit_id) await this.run(target, ['checkout', '--detach', request.commit_id]);
  }

  async status(path: string): Promise<GitStatus> {
    const repo = await this.repo(path);
    return parseStatusV2(await this.run(repo, ['status', '--porcelain=v2', '--branch', '-z', '--untracked-files=all']));
  }

  async add(path: string, files: string[]): Promise<void> {
    const repo = await this.repo(path);
    await this.run(repo, ['add', '--', ...(files.length ? files : ['.'])]);
  }

  async commit(request: GitCommitRequest): Promise<string> {
    const repo = await this.repo(request.path);
    const identity = {
      GIT_AUTHOR_NAME: request.author,
      GIT_AUTHOR_EMAIL: request.email,
      GIT_COMMITTER_NAME: request.author,
      GIT_COMMITTER_EMAIL: request.email,
    };
    const args = ['commit', '-m', request.message];
    if (request.allow_empty) args.push('--allow-empty');
    await this.run(repo, args, {}, identity);
    return (await this.run(repo, ['rev-parse', 'HEAD'])).trim();
  }

  async branches(path: string): Promise<string[]> {
    const repo = await this.repo(path);
    const out = await this.run(repo, ['branch', '--list', '--format=%(refname:short)']);
    return out.split('\n').filter((line) => line !== '');
  }

  /** Like Daytona's daemon (go-git checkout with Create): the new branch is also checked out. */
  async createBranch(path: string, name: string): Promise<void> {
    await this.run(await this.repo(path), ['checkout', '-b', name]);
  }

  async deleteBranch(path: string, name: string): Promise<void> {
    await this.run(await this.repo(path), ['branch', '-D', '--', name]);
  }

  async checkout(path: string, branch: string): Promise<void> {
    await this.run(await this.repo(path), ['checkout', branch, '--']);
  }

  async pull(path: string, credentials: Credentials): Promise<void> {
    await this.run(await this.repo(path), ['pull', '--no-rebase', '--no-edit'], credentials);
  }

  async push(path: string, credentials: Credentials): Promise<void> {
    const repo = await this.repo(path);
    const upstream = await this.run(repo, ['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}']).catch(() => '');
    if (upstream.trim()) await this.run(repo, ['push'], credentials);
    else await this.run(repo, ['push', '--set-upstream', 'origin', 'HEAD'], credentials);
  }

  async history(path: string): Promise<GitCommitInfo[]> {
    const repo = await this.repo(path);
    const out = await this.run(repo, ['log', '-z', '--format=%H%x1f%an%x1f%ae%x1f%B%x1f%aI']).catch((err: unknown) => {
      // A repository without commits has no history rather than an error.
      if (err instanceof ToolboxError && /does not have any commits|bad default revision/.test(err.message)) return '';
      throw err;
    });
    return out
      .split('\0')
      .filter((record) => record.trim() !== '')
      .map((record) => {
        const [hash = '', author = '', email = '', message = '', timestamp = ''] = record.split('\x1f');
        return { hash: hash.trim(), author, email, message: message.trim(), timestamp: timestamp.trim() };
      });
  }
}
