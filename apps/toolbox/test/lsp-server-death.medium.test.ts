// A language server whose pipes close before its exit status arrives (language-server.ts exitsWithin): a call made in
// that window must report the server's death (which makes the service restart it), not the connection's own error.
// The server here is a real process speaking LSP's framing that answers `initialize`, then closes its stdout and
// lives on for a while, which widens the window a SIGKILL leaves to a few milliseconds.
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LanguageServer } from '../src/lsp/language-server.js';
import { LanguageServerExited } from '../src/lsp/lsp-errors.js';
import { hostContext } from './harness.js';

const SERVER = `
let buf = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    const head = buf.indexOf('\\r\\n\\r\\n');
    if (head < 0) return;
    const len = Number(/Content-Length: (\\d+)/i.exec(buf.subarray(0, head).toString())[1]);
    if (buf.length < head + 4 + len) return;
    const msg = JSON.parse(buf.subarray(head + 4, head + 4 + len).toString());
    buf = buf.subarray(head + 4 + len);
    if (msg.method === 'initialize') {
      const body = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { capabilities: {} } });
      process.stdout.write('Content-Length: ' + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body);
    }
    if (msg.method === 'initialized') {
      // Pipes first, exit later: what the toolbox sees between a killed server's EOF and its SIGCHLD, stretched.
      process.stdout.end(() => setTimeout(() => process.exit(0), 600));
    }
  }
});
`;

describe('language server dying behind a closed connection', () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'lsp-death-')));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = hostContext(dir);

  it('a request and a notification in that window fail as the server having exited', async () => {
    writeFileSync(join(dir, 'server.cjs'), SERVER);
    const language = { id: 'fake', script: 'server.cjs', args: [], initializationOptions: () => ({}), documentLanguage: () => 'fake' };
    const server = await LanguageServer.start(ctx, language, dir, dir);
    // The stdout end reaches the toolbox well before the exit does.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.alive, true, 'the exit status has not arrived yet');
    await assert.rejects(server.request('textDocument/completion', {}, 5000), LanguageServerExited);
    assert.equal(server.alive, false);
    await assert.rejects(server.notify('textDocument/didClose', {}), LanguageServerExited);
  });
});
