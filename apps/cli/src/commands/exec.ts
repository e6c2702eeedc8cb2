import type { ParsedArgs } from '../args.js';
import { sdk } from '../client.js';
import type { CliConfig } from '../config.js';
import { UsageError } from '../errors.js';

export const usage = 'shoal exec <sandbox-id> [--cwd DIR] [--timeout SECONDS] -- <command...>';

/** Runs a command in a sandbox, prints its combined output and exits with its exit code. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = args.positional[0];
  if (!id || args.rest.length === 0) throw new UsageError(usage);
  const daytona = await sdk(config);
  const sandbox = await daytona.get(id);
  const cwd = typeof args.flags.get('cwd') === 'string' ? (args.flags.get('cwd') as string) : undefined;
  const timeout = args.flags.has('timeout') ? Number(args.flags.get('timeout')) : undefined;
  const res = await sandbox.process.executeCommand(args.rest.map(shellQuote).join(' '), cwd, undefined, timeout);
  process.stdout.write(res.result.endsWith('\n') || res.result === '' ? res.result : `${res.result}\n`);
  return res.exitCode;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
