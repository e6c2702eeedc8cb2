import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject, printTable } from '../../output.js';
import { organizationId, portal, type Endpoint } from './webhook.js';

export const usage =
  'shoal webhook endpoints [list | add <url> [--events a,b] [--description TEXT] | remove <endpoint-id>] [--org <id|name>] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const [action = 'list', arg] = args.positional;
  const json = args.flags.has('json');
  const client = api(config);
  const p = await portal(client, await organizationId(client, args));
  if (action === 'list') {
    const eps = await p.request<Endpoint[]>('GET', '/endpoints');
    if (json) console.log(JSON.stringify(eps, null, 2));
    else printTable(eps.map((e) => ({ ...e, eventTypes: e.eventTypes.join(',') || 'all', secret: `${e.secret.slice(0, 10)}…` })), ['id', 'url', 'eventTypes', 'disabled', 'description', 'secret'], false);
    return 0;
  }
  if (action === 'add') {
    if (!arg) throw new UsageError(usage);
    const events = flagString(args, 'events');
    const ep = await p.request<Endpoint>('POST', '/endpoints', {
      url: arg,
      ...(events ? { eventTypes: events.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      ...(flagString(args, 'description') !== undefined ? { description: flagString(args, 'description') } : {}),
    });
    printObject({ ...ep, eventTypes: ep.eventTypes.join(',') || 'all' }, json);
    return 0;
  }
  if (action === 'remove') {
    if (!arg) throw new UsageError(usage);
    await p.request('DELETE', `/endpoints/${encodeURIComponent(arg)}`);
    console.log(json ? JSON.stringify({ id: arg, deleted: true }) : `Removed endpoint ${arg}`);
    return 0;
  }
  throw new UsageError(usage);
}
