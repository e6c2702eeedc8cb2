import { resolve } from 'node:path';
import { startPlatform } from '@shoal/platform';
import { flagInt, flagString, type ParsedArgs } from '../args.js';
import type { CliConfig } from '../config.js';
import { UsageError } from '../errors.js';

export const usage = 'shoal up [--data-dir DIR] [--port 3000] [--host 127.0.0.1] [--runners 1] [--database-url URL] [--preview-domain D] [--no-cgroup-fix]' +
  ' [--allow-private-cidrs CIDR,...] [--limited-egress-cidrs CIDR,...] [--deny-cidrs CIDR,...]';

/** Starts the whole platform on embedded defaults and keeps it running until Ctrl-C or SIGTERM. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const dataDir = resolve(flagString(args, 'data-dir') ?? config.dataDir);
  const port = flagInt(args, 'port') ?? 3000;
  if (port < 1 || port > 65535) throw new UsageError('--port must be between 1 and 65535');
  const runners = flagInt(args, 'runners') ?? 1;
  if (runners < 1 || runners > 8) throw new UsageError('--runners must be between 1 and 8');
  const t0 = Date.now();
  const log = (line: string) => console.log(line);
  console.log(`Starting Shoal in ${dataDir} ...`);
  const platform = await startPlatform({
    dataDir,
    apiPort: port,
    apiHost: flagString(args, 'host') ?? '127.0.0.1',
    runners,
    cgroupFix: !args.flags.has('no-cgroup-fix'),
    log,
    ...(flagString(args, 'database-url') ? { databaseUrl: flagString(args, 'database-url')! } : {}),
    ...(flagString(args, 'preview-domain') ? { previewDomain: flagString(args, 'preview-domain')! } : {}),
    // Validated by each runner at start (it knows the host's addresses and its subnet): a bad list fails `up` with the reason.
    network: {
      allowPrivateCidrs: cidrList(flagString(args, 'allow-private-cidrs')),
      limitedEgressCidrs: cidrList(flagString(args, 'limited-egress-cidrs')),
      denyCidrs: cidrList(flagString(args, 'deny-cidrs')),
    },
  });
  const credentialsFile = platform.credentialsFile;
  if (platform.credentialsMissing) {
    // The database keeps only hashes: the old key cannot be shown again, a new one can be minted.
    console.log(
      [
        '',
        `${credentialsFile} is missing, so no API key can be shown (keys are stored hashed). Existing keys keep working.`,
        'Mint a new admin key and rewrite the file with:',
        '',
        `  ${recoveryCommand(dataDir)}`,
      ].join('\n'),
    );
  }
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    [
      '',
      `Shoal is ready (${seconds} s).`,
      '',
      `  API URL:  ${platform.apiUrl}`,
      ...(platform.credentialsMissing
        ? [`  API key:  (missing; run ${recoveryCommand(dataDir)})`]
        : [`  API key:  ${platform.apiKey}`, `  Saved in: ${credentialsFile}`]),
      '',
      'Use it from the official Daytona SDK (npm install @daytonaio/sdk@0.108.1):',
      '',
      `  export DAYTONA_API_URL=${platform.apiUrl}`,
      `  export DAYTONA_API_KEY=${platform.credentialsMissing ? '<the new key>' : platform.apiKey}`,
      '',
      "  import { Daytona } from '@daytonaio/sdk';",
      '  const sandbox = await new Daytona().create();',
      "  console.log((await sandbox.process.executeCommand('python3 -c \"print(6*7)\"')).result);",
      '  await sandbox.delete();',
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  return await new Promise<number>((resolveExit) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${signal}: stopping Shoal ...`);
      void platform.stop().then(
        () => {
          console.log('Shoal stopped.');
          resolveExit(0);
        },
        (err: Error) => {
          console.error(`shutdown failed: ${err.message}`);
          resolveExit(1);
        },
      );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    platform.api.waitExit().then((code) => {
      if (!stopping) {
        console.error(`the API process exited unexpectedly (code ${code}); stopping.`);
        shutdown('API exit');
      }
    });
  });
}

/** What `npm start` prints when credentials.json is lost (tests run exactly this line). */
export function recoveryCommand(dataDir: string): string {
  return `npx shoal credentials reset --data-dir ${dataDir}`;
}

function cidrList(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
