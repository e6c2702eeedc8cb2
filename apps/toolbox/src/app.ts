import { existsSync } from 'node:fs';
import type { ToolboxContext } from './context.js';
import { FilesService } from './files/files.service.js';
import { GitService } from './git/git.service.js';
import { Router } from './http/router.js';
import { ExecuteService } from './process/execute.service.js';
import { PtyService } from './process/pty.service.js';
import { SessionsService, type SessionLimits } from './process/sessions.service.js';
import { registerFileRoutes } from './routes/files.routes.js';
import { registerGitRoutes } from './routes/git.routes.js';
import { registerInfoRoutes } from './routes/info.routes.js';
import { registerProcessRoutes } from './routes/process.routes.js';
import { registerUnsupportedRoutes } from './routes/unsupported.routes.js';

export interface ToolboxApp {
  handleRequest: Router['handleRequest'];
  handleUpgrade: Router['handleUpgrade'];
  /** Kills every session shell and PTY this daemon started. */
  shutdown(): void;
}

/** Wires services and routes; listens on nothing (main.ts attaches the handlers to its servers). */
export function buildToolbox(ctx: ToolboxContext, sessionLimits?: SessionLimits): ToolboxApp {
  const router = new Router(ctx.log);
  const sessions = new SessionsService(ctx, sessionLimits);
  const interactiveShell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
  const pty = new PtyService(ctx, ctx.identity.shell && existsSync(ctx.identity.shell) ? ctx.identity.shell : interactiveShell);
  registerInfoRoutes(router, ctx);
  registerFileRoutes(router, new FilesService(ctx));
  registerProcessRoutes(router, { execute: new ExecuteService(ctx), sessions, pty });
  registerGitRoutes(router, new GitService(ctx));
  registerUnsupportedRoutes(router);
  return {
    handleRequest: router.handleRequest,
    handleUpgrade: router.handleUpgrade,
    shutdown() {
      sessions.shutdown();
      pty.shutdown();
    },
  };
}
