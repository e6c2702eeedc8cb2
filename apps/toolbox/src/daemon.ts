import { createServer, type Server } from 'node:http';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildToolbox } from './app.js';
import { childEnvironment, loadConfig } from './config.js';
import type { ToolboxContext } from './context.js';
import { becomeSandboxUser, currentIdentity, type Identity } from './identity.js';
import { SESSION_IDLE_DEFAULT_SECONDS } from './process/limits.js';
import { startEntrypoint } from './entrypoint.js';
import { jsonLog } from './log.js';
import { DEFAULT_SESSION_LIMITS } from './process/sessions.service.js';

const log = jsonLog((line) => process.stderr.write(line));

function chooseWorkdir(requested: string | undefined, identity: Identity): string {
  for (const candidate of [requested, identity.home, '/']) {
    if (!candidate) continue;
    try {
      if (candidate === identity.home) mkdirSync(candidate, { recursive: true });
      if (statSync(candidate).isDirectory()) {
        process.chdir(candidate);
        return candidate;
      }
    } catch {
      log(`working directory ${candidate} is not usable, trying the next one`);
    }
  }
  return process.cwd();
}

/**
 * The runner's tmpfs for the toolbox comes first: session scripts and logs there survive a full disk and cost the
 * user no quota. Without it (dev mode, an older runner) or if it is unusable, some images have no writable /tmp; the
 * daemon must still start, so fall back along a few candidates.
 */
function makeRuntimeDir(candidates: string[], runDir: string | undefined): string {
  for (const base of candidates) {
    try {
      return mkdtempSync(join(base, base === tmpdir() || base === runDir ? 'shoal-toolbox-' : '.shoal-toolbox-'));
    } catch {
      if (base === runDir) log(`${runDir} is not usable: session logs go to the sandbox's own disk`);
    }
  }
  throw new Error(`no writable directory for the toolbox's scratch files among ${candidates.join(', ')}`);
}

/** The daemon: config, identity, then the servers. Entered from main.ts, or from a startup snapshot (snapshot-main.ts). */
export function runDaemon(): void {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    log((err as Error).message);
    process.exit(2);
  }
  for (const warning of config.warnings) log(warning);
  const runDir = config.runDir;
  // The runner mounts it root-owned and 0700; it becomes the sandbox user's (the toolbox's own uid from here on).
  const claimRunDir = (uid: number, gid: number) => {
    if (!runDir) return;
    try {
      chownSync(runDir, uid, gid);
      chmodSync(runDir, 0o700);
    } catch (err) {
      log(`cannot take ${runDir}: ${(err as Error).message}`);
    }
  };
  const identity =
    config.sandboxUser && process.getuid?.() === 0 ? becomeSandboxUser(config.sandboxUser, claimRunDir) : currentIdentity(config.home);
  const workdir = chooseWorkdir(config.workdir, identity);
  const env = childEnvironment(identity);
  // Created after dropping privileges so the sandbox user owns it.
  const runtimeDir = makeRuntimeDir([...(runDir ? [runDir] : []), tmpdir(), identity.home, '/dev/shm', workdir], runDir);
  const ctx: ToolboxContext = { identity, workdir, env, runtimeDir, log, execHelper: config.execHelper };
  const idleSeconds = config.sessionIdleSeconds ?? SESSION_IDLE_DEFAULT_SECONDS;
  const app = buildToolbox(ctx, { ...DEFAULT_SESSION_LIMITS, idleMs: idleSeconds * 1000 });

  const servers: Server[] = [];
  const serve = (listen: (server: Server) => void, what: string) => {
    const server = createServer({ keepAliveTimeout: 65_000 }, app.handleRequest);
    server.on('upgrade', app.handleUpgrade);
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('error', (err) => {
      log(`cannot listen on ${what}: ${err.message}`);
      process.exit(1);
    });
    server.on('listening', () => log(`listening on ${what}`));
    listen(server);
    servers.push(server);
  };
  if (config.listenFd !== undefined) serve((s) => s.listen({ fd: config.listenFd }), `fd ${config.listenFd}`);
  if (config.socketPath !== undefined) {
    const path = config.socketPath;
    try {
      unlinkSync(path);
    } catch {
      // No stale socket.
    }
    serve((s) => s.listen(path), path);
  }
  // The snapshot's entrypoint runs beside the daemon, as the reference's daemon runs it; its exit never stops the sandbox.
  if (config.entrypoint.length > 0) startEntrypoint(ctx, config.entrypoint);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    app.shutdown();
    for (const server of servers) server.close();
    rmSync(runtimeDir, { recursive: true, force: true });
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A bug in one request must not take the sandbox's only daemon down with it.
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
}
