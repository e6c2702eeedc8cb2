import { api } from '../../api.js';
import { flagInt, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';
import { organizationId, portal } from './webhook.js';

export const usage = 'shoal webhook messages [--limit N] [--org <id|name>] [--json]   (recent messages and their deliveries)';

interface Summary {
  id: string;
  eventType: string;
  createdAt: string;
  deliveries: { endpointId: string; state: string; attempts: number }[];
}

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const p = await portal(client, await organizationId(client, args));
  const limit = flagInt(args, 'limit') ?? 20;
  const msgs = await p.request<Summary[]>('GET', `/messages?limit=${limit}`);
  if (args.flags.has('json')) console.log(JSON.stringify(msgs, null, 2));
  else
    printTable(
      msgs.map((m) => ({ ...m, deliveries: m.deliveries.map((d) => `${d.endpointId}:${d.state}(${d.attempts})`).join(' ') })),
      ['id', 'createdAt', 'eventType', 'deliveries'],
      false,
    );
  return 0;
}
