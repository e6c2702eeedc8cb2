import type { ToolboxContext } from '../context.js';
import type { Router } from '../http/router.js';
import { TOOLBOX_VERSION } from '../version.js';

export function registerInfoRoutes(router: Router, ctx: ToolboxContext): void {
  router.add({
    method: 'GET',
    path: '/version',
    operation: 'getVersion',
    handler: async () => ({ status: 200, json: { version: TOOLBOX_VERSION } }),
  });
  router.add({
    method: 'GET',
    path: '/project-dir',
    operation: 'getProjectDir',
    handler: async () => ({ status: 200, json: { dir: ctx.identity.home } }),
  });
  router.add({
    method: 'GET',
    path: '/user-home-dir',
    operation: 'getUserHomeDir',
    handler: async () => ({ status: 200, json: { dir: ctx.identity.home } }),
  });
  router.add({
    method: 'GET',
    path: '/work-dir',
    operation: 'getWorkDir',
    handler: async () => ({ status: 200, json: { dir: ctx.workdir } }),
  });
}
