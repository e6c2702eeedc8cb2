import { api } from '../../api.js';
import type { ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printTable } from '../../output.js';
import { organizationId, portal } from './webhook.js';

export const usage = 'shoal webhook attempts <message-id> [--org <id|name>] [--json]';

interface Attempt {
  attempt: number;
  endpointId: string;
  url: string;
  responseStatusCode: number;
  responseDurationMs: number;
  error: string | null;
  timestamp: string;
}

/** Admins read GET .../messages/{id}/attempts; the organization's owners read the same through the portal. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const id = args.positional[0];
  if (!id) throw new UsageError(usage);
  const client = api(config);
  const orgId = await organizationId(client, args);
  const attempts = await client
    .request<Attempt[]>('GET', `/webhooks/organizations/${encodeURIComponent(orgId)}/messages/${encodeURIComponent(id)}/attempts`)
    .catch(async (err: unknown) => {
      if ((err as { statusCode?: number }).statusCode !== 403) throw err;
      return (await portal(client, orgId)).request<Attempt[]>('GET', `/messages/${encodeURIComponent(id)}/attempts`);
    });
  if (args.flags.has('json')) console.log(JSON.stringify(attempts, null, 2));
  else
    printTable(
      attempts.map((a) => ({ ...a, status: a.responseStatusCode || '-', ms: a.responseDurationMs, error: a.error ?? '' })),
      ['attempt', 'timestamp', 'endpointId', 'status', 'ms', 'error'],
      false,
    );
  return 0;
}
