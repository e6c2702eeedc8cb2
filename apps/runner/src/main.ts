import { build } from './app.js';
import { loadConfig } from './config.js';
import { createRunner } from './runner.js';
import { startTracing, stopTracing } from '@shoal/telemetry';

/** How long stopping sandboxes may take before the rest is torn down without waiting (the supervisor waits longer). */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const cfg = loadConfig();
  const log = {
    info: (m: string) => console.log(`[runner] ${m}`),
    warn: (m: string) => console.warn(`[runner] WARN ${m}`),
  };
  // By default sandboxes keep running across a runner restart and are re-adopted; an embedded platform asks for
  // them to be stopped instead (SHOAL_RUNNER_STOP_SANDBOXES_ON_EXIT=1) so Ctrl-C leaves nothing running.
  // Ctrl-C reaches every process of the terminal's group, and the supervisor then sends SIGTERM too: the first signal
  // starts the one shutdown, later ones are ignored (a default handler would kill us halfway through cleanup). A
  // signal during start-up (recovery, network setup) is acted on once start-up is done, not in the middle of it.
  // Whoever reads our output (the supervisor, a terminal) may go away before the cleanup is done: a write to the
  // closed pipe (EPIPE) must not crash us halfway.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  let signalled: string | undefined;
  let onSignal: (signal: string) => void = (signal) => (signalled ??= signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => onSignal(signal));

  // Off unless SHOAL_OTLP_ENDPOINT is set; the OpenTelemetry SDK is only loaded then.
  await startTracing(cfg.otlpEndpoint, 'shoal-runner');
  const runner = await createRunner(cfg, log);
  const app = build({
    token: cfg.token,
    ...(cfg.callToken ? { callToken: cfg.callToken } : {}),
    version: cfg.version,
    sandboxes: runner.sandboxes,
    images: runner.images,
    builder: runner.builder,
    metrics: runner.metrics,
    logger: { level: cfg.logLevel },
  });
  let shuttingDown = false;
  onSignal = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info(`${signal}: shutting down (${cfg.stopSandboxesOnExit ? 'stopping sandboxes' : 'sandboxes keep running'})`);
    void runner
      .shutdown({ stopSandboxes: cfg.stopSandboxesOnExit, graceMs: SHUTDOWN_GRACE_MS, closeHttp: () => app.close() })
      .then(
        async () => {
          log.info('shut down');
          await stopTracing();
          process.exit(0);
        },
        (err: Error) => {
          log.warn(`shutdown failed: ${err.message}`);
          process.exit(1);
        },
      );
  };
  if (signalled) return onSignal(signalled);
  await app.listen({ host: cfg.host, port: cfg.port });
  log.info(`listening on http://${cfg.host}:${cfg.port}`);
}

main().catch((err: unknown) => {
  console.error(`[runner] fatal: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
