import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunnerConfig } from './config.js';
import { createBuilder } from './images/config/build.js';
import type { Builder } from './images/builder.js';
import { ImageStore } from './images/image-store.js';
import { desktopImageFor } from './images/desktop-image.js';
import { HostMetrics } from './metrics/host-metrics.js';
import { DnsForwarder } from './network/dns.js';
import { chooseToolboxEntry } from './toolbox/toolbox-entry.js';
import { Network } from './network/network.js';
import { chooseRuntime } from './runtime/detect.js';
import { OciCliBackend } from './runtime/oci-cli.js';
import { ApiReporter } from './sandbox/api-reporter.js';
import { SandboxService } from './sandbox/sandbox.service.js';
import { createSandboxLayers } from './sandbox/config/archive.js';
import { SandboxStore } from './sandbox/sandbox.store.js';
import { DiskPool } from './storage/quota.js';
import { findIdmapHelper } from './storage/idmap.js';
import { UidPool } from './sandbox/uid-pool.js';
import { createVolumeDriver } from './volumes/create-driver.js';
import { ensureNodeRuntime } from './toolbox/node-runtime.js';
import { acquireSpawner } from './util/spawner.js';
import { chmod, copyFile, mkdir, rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface Runner {
  sandboxes: SandboxService;
  images: ImageStore;
  builder: Builder;
  metrics: HostMetrics;
  backend: OciCliBackend;
  network: Network;
  pool: DiskPool;
  dns: DnsForwarder;
  /** How sandboxes start their toolbox, and why (toolbox/toolbox-entry.ts). */
  toolboxStart: string;
  close(): Promise<void>;
  /**
   * Leaves the host as the operator chose: with `stopSandboxes` every sandbox is stopped and the runner's bridge, nft
   * table, namespaces and cgroups are removed; otherwise sandboxes keep running (the next start re-adopts them). Never
   * takes much longer than `graceMs`: past it, what still runs is torn down without waiting for its turn.
   */
  shutdown(opts: { stopSandboxes: boolean; graceMs: number; closeHttp: () => Promise<void> }): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export interface Logger {
  info: (msg: string) => void;
  warn: (msg: string) => void;
}

/** Wires the host-side pieces together and recovers persisted sandboxes; says at start what it chose and why. */
export async function createRunner(cfg: Readonly<RunnerConfig>, log: Logger): Promise<Runner> {
  const releaseSpawner = acquireSpawner(cfg.dataDir);
  try {
    return await wireRunner(cfg, log, releaseSpawner);
  } catch (err) {
    await releaseSpawner();
    throw err;
  }
}

async function wireRunner(cfg: Readonly<RunnerConfig>, log: Logger, releaseSpawner: () => Promise<void>): Promise<Runner> {
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o711 });
  // Sandboxes' unprivileged root must traverse (not list) the data dir to reach their bind-mount sources.
  await chmod(cfg.dataDir, 0o711);
  const runtime = await chooseRuntime(cfg.ociRuntime, cfg.allowCgroupFix);
  log.info(`runtime: ${runtime.reason}`);
  const backend = new OciCliBackend(runtime.binary, join(cfg.dataDir, 'oci'));
  await backend.init();

  const pool = new DiskPool(cfg.dataDir, (message) => log.warn(message));
  await pool.init(cfg.diskQuota);
  (pool.enforced ? log.info : log.warn)(`disk: ${pool.reason}`);

  await access(join(cfg.toolboxDir, 'toolbox.cjs')).catch(() =>
    log.warn(`toolbox bundle not found at ${cfg.toolboxDir}/toolbox.cjs (run: npm run build -w @shoal/toolbox); sandboxes cannot start`),
  );
  const nodeRuntimeDir = await ensureNodeRuntime(cfg.dataDir);
  const toolboxEntry = await chooseToolboxEntry(cfg.toolboxDir, nodeRuntimeDir, cfg.toolboxSnapshot);
  log.info(toolboxEntry.reason);
  const shoalBinDir = join(cfg.dataDir, 'shoal-bin');
  await mkdir(shoalBinDir, { recursive: true, mode: 0o755 });
  // Replaced by rename, never overwritten in place: running sandboxes execute these files (ETXTBSY).
  // shoal-exec (built by scripts/bootstrap.mjs) starts every user process with no inherited descriptor.
  const shoalExec = fileURLToPath(new URL('../native/dist/shoal-exec', import.meta.url));
  for (const [source, name] of [['/usr/bin/tini-static', 'tini'], [shoalExec, 'shoal-exec']] as const) {
    await copyFile(source, join(shoalBinDir, `${name}.${process.pid}`)).catch((err: Error) => {
      throw new Error(`${source} is missing (${err.message}); run npm start or scripts/bootstrap.mjs to build it`);
    });
    await chmod(join(shoalBinDir, `${name}.${process.pid}`), 0o755);
    await rename(join(shoalBinDir, `${name}.${process.pid}`), join(shoalBinDir, name));
  }
  await chmod(shoalBinDir, 0o755);

  const images = new ImageStore({
    dataDir: cfg.dataDir,
    uidBase: cfg.uidBase,
    defaultImage: cfg.defaultImage,
    desktopImage: desktopImageFor(cfg.defaultImage),
    imageCacheDir: cfg.imageCacheDir,
    internalRegistry: cfg.internalRegistry,
    log: (l) => log.info(l),
  });
  await images.init();
  const builds = await createBuilder(cfg, runtime.binary, images, (l) => log.info(l));
  const network = new Network(cfg.bridge, cfg.subnet, cfg.floor);
  const reporter = new ApiReporter(cfg.apiUrl, cfg.token, (m) => log.warn(m));
  const store = new SandboxStore(join(cfg.dataDir, 'sandboxes'));
  const idmapHelper = await findIdmapHelper();
  const volumes = createVolumeDriver(cfg, idmapHelper, log);
  await volumes.init();
  log.info(volumes.description);
  const sandboxes = new SandboxService({
    dataDir: cfg.dataDir,
    uidBase: cfg.uidBase,
    uids: new UidPool(cfg.uidPool.base, cfg.uidPool.ranges),
    idmapHelper,
    bridgeName: cfg.bridge,
    defaultImage: cfg.defaultImage,
    toolboxDir: cfg.toolboxDir,
    toolboxArgs: toolboxEntry.args,
    nodeRuntimeDir,
    shoalBinDir,
    unconfinedSnapshots: new Set(cfg.unconfinedSnapshots),
    backend,
    images,
    network,
    pool,
    store,
    reporter,
    log,
    volumes,
    layers: createSandboxLayers(cfg, pool),
    maxConcurrentStarts: cfg.maxConcurrentStarts,
  });
  await sandboxes.init();
  log.info(`network: bridge ${cfg.bridge} ${network.gateway}/${cfg.subnet.prefix}, nftables table inet ${network.table}`);
  const dns = new DnsForwarder(network.gateway);
  await dns.start().catch((err: Error) => log.warn(`DNS forwarder on ${network.gateway}:53 failed: ${err.message}`));
  sandboxes.startStateSync(cfg.stateSyncIntervalMs);
  sandboxes.reportAll();
  const metrics = new HostMetrics(cfg.dataDir, sandboxes, images);
  const close = async () => {
    await builds.builder.close();
    await builds.network.close();
    await sandboxes.close();
    await pool.close();
    await volumes.close();
    await dns.stop();
    await releaseSpawner();
  };
  return {
    sandboxes,
    images,
    builder: builds.builder,
    metrics,
    backend,
    network,
    pool,
    dns,
    toolboxStart: toolboxEntry.reason,
    close,
    async shutdown({ stopSandboxes, graceMs, closeHttp }) {
      const t0 = Date.now();
      const since = () => `${Date.now() - t0} ms`;
      sandboxes.beginShutdown(stopSandboxes ? 'stop' : 'keep');
      const count = sandboxes.all().filter((s) => s.state !== 'stopped' && s.state !== 'destroyed').length;
      // Proxied streams (log follows, WebSockets) may never end on their own: the HTTP side gets two seconds, and
      // sandboxes are stopped meanwhile rather than after.
      const http = Promise.race([closeHttp().catch(() => undefined), sleep(2000)]);
      const orderly = stopSandboxes ? sandboxes.stopAll() : sandboxes.settle();
      const inTime = await Promise.race([orderly.then(() => true), sleep(graceMs).then(() => false)]);
      if (!inTime) {
        log.warn(`sandboxes did not ${stopSandboxes ? 'stop' : 'settle'} within ${graceMs} ms`);
        if (stopSandboxes) {
          await sandboxes.forceCleanup();
          // Work still in flight gives up at its next step and undoes what it did; give it a moment, then sweep
          // again whatever it made meanwhile.
          await Promise.race([sandboxes.settle(), sleep(3000)]);
          await sandboxes.forceCleanup();
        }
      }
      log.info(`${stopSandboxes ? 'stopped' : 'left running'} ${count} sandbox(es) after ${since()}`);
      await http;
      await close();
      if (stopSandboxes) {
        // Nothing runs any more, so nothing needs the bridge, the table or the cgroup parents; the next start recreates them.
        await network.removeHostState();
        await sandboxes.removeCgroupParents();
        log.info(`removed bridge ${network.bridge}, table inet ${network.table}, namespaces and cgroups after ${since()}`);
      }
    },
  };
}
