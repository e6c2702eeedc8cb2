import { flagInt, type ParsedArgs } from '../../args.js';
import { sdk } from '../../client.js';
import type { CliConfig } from '../../config.js';
import { printTable } from '../../output.js';

export const usage = 'shoal snapshot list [--page N] [--limit N] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const daytona = await sdk(config);
  const page = await daytona.snapshot.list(flagInt(args, 'page'), flagInt(args, 'limit'));
  const rows = page.items.map((s) => ({ id: s.id, name: s.name, imageName: s.imageName, state: s.state, cpu: s.cpu, mem: s.mem, disk: s.disk }));
  printTable(rows, ['name', 'state', 'imageName', 'cpu', 'mem', 'disk'], args.flags.has('json'));
  return 0;
}
