import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { readPassword } from './password.js';
import { registryArg, resolveRegistry, type Registry } from './registry.js';

export const usage =
  'shoal registry update <id|name> [--name NAME] [--url URL] [--username USER] [--project P] [--password-stdin | --password-prompt] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const ref = registryArg(args, usage);
  const body: Record<string, string> = {};
  for (const k of ['name', 'url', 'username', 'project']) {
    const v = flagString(args, k);
    if (v !== undefined) body[k] = v;
  }
  const password = await readPassword(args, false);
  if (password !== undefined) body.password = password;
  if (Object.keys(body).length === 0) throw new UsageError('nothing to update: give --name, --url, --username, --project or a new password');
  const client = api(config);
  const r = await resolveRegistry(client, ref);
  printObject({ ...(await client.request<Registry>('PATCH', `/docker-registry/${encodeURIComponent(r.id)}`, body)) }, args.flags.has('json'));
  return 0;
}
