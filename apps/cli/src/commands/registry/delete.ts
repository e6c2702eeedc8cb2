import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { registryArg, resolveRegistry } from './registry.js';

export const usage = 'shoal registry delete <id|name> [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const r = await resolveRegistry(client, registryArg(args, usage));
  await client.request('DELETE', `/docker-registry/${encodeURIComponent(r.id)}`);
  if (args.flags.has('json')) console.log(JSON.stringify({ id: r.id, name: r.name, deleted: true }));
  else console.log(`Deleted registry ${r.name} (${r.id})`);
  return 0;
}
