import { notImplemented } from '../http/errors.js';
import type { Router } from '../http/router.js';

/**
 * LSP and computer use are not part of this daemon yet. Every route the SDK can call answers a clear 501 envelope
 * (rather than a generic 404) so a caller sees that the feature, not the path, is missing.
 */
const lsp: [method: 'GET' | 'POST', path: string][] = [
  ['POST', '/lsp/start'],
  ['POST', '/lsp/stop'],
  ['POST', '/lsp/did-open'],
  ['POST', '/lsp/did-close'],
  ['POST', '/lsp/completions'],
  ['GET', '/lsp/document-symbols'],
  ['GET', '/lsp/workspace-symbols'],
  ['GET', '/lsp/workspacesymbols'],
];

const computerUse: [method: 'GET' | 'POST', path: string][] = [
  ['POST', '/computeruse/start'],
  ['POST', '/computeruse/stop'],
  ['GET', '/computeruse/status'],
  ['GET', '/computeruse/process-status'],
  ['GET', '/computeruse/process/:name/status'],
  ['POST', '/computeruse/process/:name/restart'],
  ['GET', '/computeruse/process/:name/logs'],
  ['GET', '/computeruse/process/:name/errors'],
  ['GET', '/computeruse/mouse/position'],
  ['POST', '/computeruse/mouse/move'],
  ['POST', '/computeruse/mouse/click'],
  ['POST', '/computeruse/mouse/drag'],
  ['POST', '/computeruse/mouse/scroll'],
  ['POST', '/computeruse/keyboard/type'],
  ['POST', '/computeruse/keyboard/key'],
  ['POST', '/computeruse/keyboard/hotkey'],
  ['GET', '/computeruse/screenshot'],
  ['GET', '/computeruse/screenshot/region'],
  ['GET', '/computeruse/screenshot/compressed'],
  ['GET', '/computeruse/screenshot/region/compressed'],
  ['GET', '/computeruse/display/info'],
  ['GET', '/computeruse/display/windows'],
];

export function registerUnsupportedRoutes(router: Router): void {
  for (const [method, path] of lsp) {
    router.add({
      method,
      path,
      operation: 'lsp',
      handler: async () => {
        throw notImplemented('LSP is not supported by this sandbox toolbox yet');
      },
    });
  }
  for (const [method, path] of computerUse) {
    router.add({
      method,
      path,
      operation: 'computerUse',
      handler: async () => {
        throw notImplemented('Computer use is not supported by this sandbox toolbox yet');
      },
    });
  }
}
