import { loadConfig } from './config.js';
import { startApi } from './server.js';
import { stopTracing } from '@shoal/telemetry';

async function main(): Promise<void> {
  const config = loadConfig();
  const api = await startApi(config, { level: config.logLevel });
  if (api.adminApiKey) {
    process.stdout.write(`\nShoal admin API key (shown once): ${api.adminApiKey}\nAPI URL: ${api.apiUrl}\n`);
    if (api.credentialsFile) process.stdout.write(`Credentials written to ${api.credentialsFile}\n`);
    process.stdout.write('\n');
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    api.app.log.info({ signal }, 'shutting down');
    // In-flight runner calls are waited for; claims of anything cut short expire and another process retries them.
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    api
      .close()
      .then(() => stopTracing())
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`shoal-api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
