/*
 * The floor of the LSP benchmark: the same language server (the same npm package the toolbox ships, from this
 * workspace's node_modules) spawned directly on the host by this process, speaking JSON-RPC over its stdio, doing
 * the same initialize, initialized, didOpen and first completion on the same files; no sandbox, no HTTP, no proxy.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

const require = createRequire(import.meta.url);
const modules = dirname(dirname(require.resolve('typescript-language-server/package.json')));

export const FLOOR_SERVERS: Record<string, { script: string; languageId: string; init: unknown }> = {
  typescript: {
    script: join(modules, 'typescript-language-server/lib/cli.mjs'),
    languageId: 'typescript',
    init: { tsserver: { path: join(modules, 'typescript/lib/tsserver.js') }, disableAutomaticTypingAcquisition: true },
  },
  python: { script: join(modules, 'pyright/langserver.index.js'), languageId: 'python', init: {} },
};

/** Milliseconds from spawn to the first completion's answer; the server is shut down afterwards, untimed. */
export async function floorStartToCompletion(language: string, project: string, file: string, position: { line: number; character: number }): Promise<{ ms: number; labels: string[] }> {
  const server = FLOOR_SERVERS[language]!;
  const t0 = performance.now();
  const child = spawn(process.execPath, [server.script, '--stdio'], { cwd: project, stdio: ['pipe', 'pipe', 'ignore'] });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  conn.onRequest('workspace/configuration', (p: { items?: unknown[] }) => (p.items ?? []).map(() => null));
  conn.onRequest('client/registerCapability', () => null);
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.listen();
  try {
    const root = pathToFileURL(project).href;
    await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: root,
      workspaceFolders: [{ uri: root, name: project }],
      capabilities: { textDocument: { completion: { completionItem: { snippetSupport: false } }, documentSymbol: { hierarchicalDocumentSymbolSupport: true } } },
      initializationOptions: server.init,
    });
    await conn.sendNotification('initialized', {});
    const uri = pathToFileURL(file).href;
    await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: server.languageId, version: 1, text: await readFile(file, 'utf8') } });
    const result = (await conn.sendRequest('textDocument/completion', { textDocument: { uri }, position })) as { items?: { label: string }[] } | { label: string }[] | null;
    const ms = performance.now() - t0;
    const items = Array.isArray(result) ? result : (result?.items ?? []);
    return { ms, labels: items.map((i) => i.label) };
  } finally {
    await Promise.race([conn.sendRequest('shutdown').then(() => conn.sendNotification('exit')), new Promise((r) => setTimeout(r, 2000))]).catch(() => undefined);
    child.kill('SIGKILL');
    conn.dispose();
  }
}
