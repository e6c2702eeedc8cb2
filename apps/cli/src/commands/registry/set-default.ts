import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printObject } from '../../output.js';
import { registryArg, resolveRegistry, type Registry } from './registry.js';

export const usage = 'shoal registry set-default <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const r = await resolveRegistry(client, registryArg(args, usage));
  printObject({ ...(await client.request<Registry>('POST', `/docker-registry/${encodeURIComponent(r.id)}/set-default`)) }, args.flags.has('json'));
  return 0;
}
