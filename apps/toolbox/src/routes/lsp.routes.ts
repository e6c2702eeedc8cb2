import { LspCompletionParams, LspDocumentRequest, LspServerRequest } from '@shoal/contracts';
import { requiredQuery, type Router } from '../http/router.js';
import type { LspService } from '../lsp/lsp.service.js';

/** The daemon's own path of workspace symbols in the reference; the API and the SDK use /lsp/workspace-symbols. */
export const WORKSPACE_SYMBOLS_ALIAS_OPERATION = 'lspWorkspaceSymbolsAlias';

export function registerLspRoutes(router: Router, lsp: LspService): void {
  router.add({
    method: 'POST',
    path: '/lsp/start',
    operation: 'LspStart',
    body: LspServerRequest,
    handler: async ({ body }) => {
      await lsp.start(body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/lsp/stop',
    operation: 'LspStop',
    body: LspServerRequest,
    handler: async ({ body }) => {
      await lsp.stop(body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/lsp/did-open',
    operation: 'LspDidOpen',
    body: LspDocumentRequest,
    handler: async ({ body }) => {
      await lsp.didOpen(body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/lsp/did-close',
    operation: 'LspDidClose',
    body: LspDocumentRequest,
    handler: async ({ body }) => {
      await lsp.didClose(body);
      return { status: 200 };
    },
  });

  router.add({
    method: 'POST',
    path: '/lsp/completions',
    operation: 'LspCompletions',
    body: LspCompletionParams,
    handler: async ({ body }) => ({ status: 200, json: await lsp.completions(body) }),
  });

  router.add({
    method: 'GET',
    path: '/lsp/document-symbols',
    operation: 'LspDocumentSymbols',
    handler: async ({ query }) => ({
      status: 200,
      json: await lsp.documentSymbols({
        languageId: requiredQuery(query, 'languageId'),
        pathToProject: requiredQuery(query, 'pathToProject'),
        uri: requiredQuery(query, 'uri'),
      }),
    }),
  });

  for (const [path, operation] of [
    ['/lsp/workspace-symbols', 'LspWorkspaceSymbols'],
    ['/lsp/workspacesymbols', WORKSPACE_SYMBOLS_ALIAS_OPERATION],
  ] as const) {
    router.add({
      method: 'GET',
      path,
      operation,
      handler: async ({ query }) => ({
        status: 200,
        json: await lsp.workspaceSymbols({
          languageId: requiredQuery(query, 'languageId'),
          pathToProject: requiredQuery(query, 'pathToProject'),
          // Absent or empty: whatever the server lists for an empty query.
          query: query.get('query') ?? '',
        }),
      }),
    });
  }
}
