import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { getSnapshot, snapshotArg } from './snapshot.js';

export const usage = 'shoal snapshot logs <id|name> [--follow]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const client = api(config);
  const s = await getSnapshot(client, snapshotArg(args.positional, usage));
  const follow = args.flags.has('follow') ? '?follow=true' : '';
  const decoder = new TextDecoder();
  for await (const chunk of await client.stream(`/snapshots/${encodeURIComponent(s.id)}/build-logs${follow}`)) {
    process.stdout.write(decoder.decode(chunk, { stream: true }));
  }
  return 0;
}
