import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { readPassword } from './password.js';
import { registryArg, type Registry } from './registry.js';

export const usage =
  'shoal registry create <name> --url URL --username USER [--project P] [--type organization|internal|transient|backup] [--default] [--password-stdin] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const name = registryArg(args, usage);
  const url = flagString(args, 'url');
  const username = flagString(args, 'username');
  if (!url || username === undefined) throw new UsageError('--url and --username are required');
  const password = (await readPassword(args, true))!;
  const project = flagString(args, 'project');
  const type = flagString(args, 'type');
  const created = await api(config).request<Registry>('POST', '/docker-registry', {
    name,
    url,
    username,
    password,
    ...(project !== undefined ? { project } : {}),
    ...(type !== undefined ? { registryType: type } : {}),
    ...(args.flags.has('default') ? { isDefault: true } : {}),
  });
  printObject({ ...created }, args.flags.has('json'));
  return 0;
}
