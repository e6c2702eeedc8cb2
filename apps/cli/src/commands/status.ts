import type { ParsedArgs } from '../args.js';
import { loadCredentials } from '../client.js';
import type { CliConfig } from '../config.js';
import { UnavailableError } from '../errors.js';
import { printObject, printTable } from '../output.js';

export const usage = 'shoal status [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const json = args.flags.has('json');
  const creds = loadCredentials(config);
  const headers = { authorization: `Bearer ${creds.apiKey}` };
  let health: unknown;
  try {
    const res = await fetch(`${creds.apiUrl}/health`, { signal: AbortSignal.timeout(5000) });
    health = await res.json();
  } catch (err) {
    throw new UnavailableError(`the API at ${creds.apiUrl} does not answer: ${(err as Error).message}`);
  }
  const runnersRes = await fetch(`${creds.apiUrl}/runners`, { headers, signal: AbortSignal.timeout(5000) });
  const runners = runnersRes.ok ? ((await runnersRes.json()) as Array<Record<string, unknown>>) : [];
  if (json) {
    console.log(JSON.stringify({ apiUrl: creds.apiUrl, health, runners }, null, 2));
    return 0;
  }
  printObject({ apiUrl: creds.apiUrl, health }, false);
  console.log('');
  printTable(runners, ['domain', 'state', 'region', 'unschedulable', 'currentAllocatedCpu', 'apiUrl'], false);
  return 0;
}
