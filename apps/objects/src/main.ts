import { loadObjectsConfig } from './config.js';
import { ObjectServer } from './server.js';

async function main(): Promise<void> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const opts = loadObjectsConfig(undefined, log);
  const running = await new ObjectServer(opts).listen();
  // The platform waits for this line's URL before starting the API and runners.
  process.stdout.write(`[objects] listening on ${running.url} (bucket ${opts.buckets.join(', ')}, data in ${opts.root})\n`);
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`shoal-objects failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
