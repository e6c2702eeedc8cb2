import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { organizationId, portal } from './webhook.js';

export const usage = 'shoal webhook portal [--org <id|name>] [--json]   (a 15-minute link to the endpoint portal page)';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const p = await portal(client, await organizationId(client, args));
  console.log(args.flags.has('json') ? JSON.stringify({ url: p.url }) : p.url);
  return 0;
}
