import { existsSync } from 'node:fs';
import { DesktopService } from './computer-use/desktop.service.js';
import { InputService } from './computer-use/input.service.js';
import { ScreenService } from './computer-use/screen.service.js';
import type { ToolboxContext } from './context.js';
import { FilesService } from './files/files.service.js';
import { GitService } from './git/git.service.js';
import { Router } from './http/router.js';
import { LspService } from './lsp/lsp.service.js';
import { ExecuteService } from './process/execute.service.js';
import { PtyService } from './process/pty.service.js';
import { SessionsService, type SessionLimits } from './process/sessions.service.js';
import { StreamService } from './process/stream.service.js';
import { registerComputerUseRoutes } from './routes/computer-use.routes.js';
import { registerControlRoutes } from './routes/control.routes.js';
import { registerFileRoutes } from './routes/files.routes.js';
import { registerGitRoutes } from './routes/git.routes.js';
import { registerInfoRoutes } from './routes/info.routes.js';
import { registerLspRoutes } from './routes/lsp.routes.js';
import { registerProcessRoutes } from './routes/process.routes.js';

export interface ToolboxApp {
  handleRequest: Router['handleRequest'];
  handleUpgrade: Router['handleUpgrade'];
  /** Kills every session shell, PTY, language server and desktop process this daemon started. */
  shutdown(): void;
  /** Every HTTP route (method, path pattern, operation). */
  routes(): { method: string; path: string; operation: string }[];
}

/** Wires services and routes; listens on nothing (daemon.ts attaches the handlers to its servers). */
export function buildToolbox(ctx: ToolboxContext, sessionLimits?: SessionLimits): ToolboxApp {
  const router = new Router(ctx.log);
  const sessions = new SessionsService(ctx, sessionLimits);
  const interactiveShell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
  const userShell = ctx.identity.shell && existsSync(ctx.identity.shell) ? ctx.identity.shell : interactiveShell;
  const pty = new PtyService(ctx, userShell);
  registerInfoRoutes(router, ctx);
  const execute = new ExecuteService(ctx);
  registerControlRoutes(router, ctx, () => execute.envChanged());
  registerFileRoutes(router, new FilesService(ctx));
  registerProcessRoutes(router, { execute, sessions, pty, stream: new StreamService(ctx, userShell) });
  registerGitRoutes(router, new GitService(ctx));
  const lsp = new LspService(ctx);
  registerLspRoutes(router, lsp);
  const desktop = new DesktopService(ctx);
  registerComputerUseRoutes(router, { desktop, input: new InputService(ctx, desktop), screen: new ScreenService(ctx, desktop) });
  return {
    handleRequest: router.handleRequest,
    handleUpgrade: router.handleUpgrade,
    routes: () => router.list(),
    shutdown() {
      execute.shutdown();
      sessions.shutdown();
      pty.shutdown();
      lsp.shutdown();
      desktop.shutdown();
    },
  };
}
