import { spawn } from 'node:child_process';
import { api } from '../api.js';
import type { ParsedArgs } from '../args.js';
import type { CliConfig } from '../config.js';
import { UnavailableError, UsageError } from '../errors.js';

export const usage = 'shoal ssh <sandbox-id> [command...]   (runs the system ssh through the platform\'s SSH gateway)';

/**
 * Creates an SSH access token for the sandbox and runs the system `ssh` with it (a login shell, or the command), then
 * revokes the token. Exits with ssh's exit status, which is the remote command's.
 */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = args.positional[0];
  if (!id) throw new UsageError(usage);
  const command = [...args.positional.slice(1), ...args.rest];
  const client = api(config);
  const path = `/sandbox/${encodeURIComponent(id)}/ssh-access`;
  const access = await client.request<{ token: string; sshCommand?: string }>('POST', `${path}?expiresInMinutes=60`);
  const target = access.sshCommand ? /^ssh -p (\d+) (\S+)@(\S+)$/.exec(access.sshCommand) : null;
  if (!target) throw new UnavailableError('the platform runs no SSH gateway (createSshAccess named no sshCommand)');
  const [, port, token, host] = target;
  const argv = ['-p', port!, '-o', 'StrictHostKeyChecking=accept-new', `${token}@${host}`, ...command];
  const status = await new Promise<number>((resolve, reject) => {
    const child = spawn('ssh', argv, { stdio: 'inherit' });
    child.on('error', (err) => reject(new UnavailableError(`cannot run ssh: ${err.message} (install the OpenSSH client)`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 255)));
  });
  await client.request('DELETE', `${path}?token=${encodeURIComponent(token!)}`).catch(() => undefined);
  return status;
}
