import { api } from '../../api.js';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { organizationId } from './webhook.js';

export const usage = "shoal webhook send <event-type> [--payload JSON] [--event-id ID] [--org <id|name>] [--json]   (admin)";

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const eventType = args.positional[0];
  if (!eventType) throw new UsageError(usage);
  let payload: unknown = {};
  const raw = flagString(args, 'payload');
  if (raw !== undefined) {
    try {
      payload = JSON.parse(raw);
    } catch {
      throw new UsageError('--payload must be a JSON object');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new UsageError('--payload must be a JSON object');
  }
  const client = api(config);
  const orgId = await organizationId(client, args);
  const eventId = flagString(args, 'event-id');
  const msg = await client.request<Record<string, unknown>>('POST', `/webhooks/organizations/${encodeURIComponent(orgId)}/send`, { eventType, payload, ...(eventId ? { eventId } : {}) });
  printObject({ ...msg, payload: JSON.stringify(msg.payload) }, args.flags.has('json'));
  return 0;
}
