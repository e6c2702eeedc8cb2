import { isEnvName, ToolboxEnvUpdate } from '@shoal/contracts';
import type { ToolboxContext } from '../context.js';
import type { Router } from '../http/router.js';

/**
 * Variables the environment of the sandbox user's processes never takes from a claim: the identity the toolbox
 * derives from the user (as at a cold start, where childEnvironment sets them after the create's env) and Shoal's own.
 */
const FIXED = new Set(['HOME', 'USER', 'LOGNAME', 'SHELL']);

/**
 * Routes for the runner alone (its proxy refuses `/.shoal/`). A claimed warm-pool sandbox gets the create's env here:
 * the daemon started without it, and every exec, session, PTY and language server reads `ctx.env` when it starts.
 */
export function registerControlRoutes(router: Router, ctx: ToolboxContext, onEnvChanged: () => void): void {
  router.add({
    method: 'POST',
    path: '/.shoal/env',
    operation: 'shoalMergeEnv',
    body: ToolboxEnvUpdate,
    handler: async ({ body }) => {
      const env = ctx.env as Record<string, string>;
      for (const [k, v] of Object.entries(body.env)) {
        if (isEnvName(k) && !FIXED.has(k) && !k.startsWith('SHOAL_')) env[k] = v;
      }
      onEnvChanged();
      return { status: 200, json: { merged: true } };
    },
  });
}
