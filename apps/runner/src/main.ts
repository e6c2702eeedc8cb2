import { build } from './app.js';
import { loadConfig } from './config.js';
import { createRunner } from './runner.js';

async function main(): Promise<void> {
  const cfg = loadConfig();
  const log = {
    info: (m: string) => console.log(`[runner] ${m}`),
    warn: (m: string) => console.warn(`[runner] WARN ${m}`),
  };
  const runner = await createRunner(cfg, log);
  const app = build({
    token: cfg.token,
    ...(cfg.callToken ? { callToken: cfg.callToken } : {}),
    version: cfg.version,
    sandboxes: runner.sandboxes,
    images: runner.images,
    metrics: runner.metrics,
    logger: { level: cfg.logLevel },
  });
  await app.listen({ host: cfg.host, port: cfg.port });
  log.info(`listening on http://${cfg.host}:${cfg.port}`);
  // By default sandboxes keep running across a runner restart and are re-adopted; an embedded platform asks for
  // them to be stopped instead (SHOAL_RUNNER_STOP_SANDBOXES_ON_EXIT=1) so Ctrl-C leaves nothing running.
  const shutdown = async (signal: string) => {
    log.info(`${signal}: shutting down (${cfg.stopSandboxesOnExit ? 'stopping sandboxes' : 'sandboxes keep running'})`);
    // Proxied streams (log follows, WebSockets) may never end on their own: do not wait on them for long.
    await Promise.race([app.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    if (cfg.stopSandboxesOnExit) await runner.sandboxes.stopAll();
    await runner.close();
    // With every sandbox stopped nothing needs the bridge or the nft table; the next start recreates both.
    if (cfg.stopSandboxesOnExit && !runner.sandboxes.all().some((s) => s.state === 'started')) {
      await runner.network.removeHostState();
      await runner.sandboxes.removeCgroupParents();
    }
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`[runner] fatal: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
