import { resolve } from 'node:path';
import { resetCredentials } from '@shoal/platform';
import { flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';

export const usage = 'shoal credentials reset [--data-dir DIR] [--database-url URL]';

/**
 * Mints a new admin API key for the platform in the data dir (running or stopped) and rewrites its credentials.json.
 * Runs on the platform's host, as the user that runs it: it reads the data dir and talks to the database directly.
 */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const dataDir = resolve(flagString(args, 'data-dir') ?? config.dataDir);
  const databaseUrl = flagString(args, 'database-url');
  const r = await resetCredentials(dataDir, { ...(databaseUrl ? { databaseUrl } : {}), log: (l) => console.error(l) });
  console.log(
    [
      `New admin API key "${r.keyName}" written to ${r.file}.`,
      'Earlier keys keep working until you revoke them (DELETE /api/api-keys/{name}).',
      '',
      `  export DAYTONA_API_URL=${r.apiUrl}`,
      `  export DAYTONA_API_KEY=${r.apiKey}`,
    ].join('\n'),
  );
  return 0;
}
