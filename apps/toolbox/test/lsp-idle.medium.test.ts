// The LSP service on its own (no daemon): an idle server is stopped and the next call starts it again.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LspService } from '../src/lsp/lsp.service.js';
import { currentIdentity } from '../src/identity.js';
import { PY_MEMBER_ACCESS, writeProjects } from './lsp-fixtures.js';

const modulesDir = dirname(dirname(createRequire(import.meta.url).resolve('pyright/package.json')));
let dir: string;
let lsp: LspService;
before(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'lsp-idle-')));
  const identity = currentIdentity();
  lsp = new LspService(
    { identity, workdir: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, runtimeDir: dir, log: () => undefined },
    { idleMs: 400, modulesDir },
  );
});
after(() => {
  lsp.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

it('stops a server idle for longer than the timeout, and the next call starts it again with its documents', { timeout: 120_000 }, async () => {
  const { py } = writeProjects(dir);
  const project = { languageId: 'python', pathToProject: py };
  const uri = `file://${py}/shapes.py`;
  await lsp.start(project);
  await lsp.didOpen({ ...project, uri });
  const first = await lsp.serverPid(project);
  assert.ok(first);
  const deadline = Date.now() + 20_000;
  const gone = () => {
    try {
      process.kill(first, 0);
      return false;
    } catch {
      return true;
    }
  };
  // The process must be gone, not only forgotten.
  while ((await lsp.serverPid(project)) !== undefined || !gone()) {
    assert.ok(Date.now() < deadline, 'the idle server was not stopped');
    await new Promise((r) => setTimeout(r, 100));
  }
  const completions = await lsp.completions({ ...project, uri, position: PY_MEMBER_ACCESS });
  assert.ok(completions.items.some((i) => i.label === 'area'));
  const second = await lsp.serverPid(project);
  assert.ok(second && second !== first);
  await lsp.stop(project);
  await assert.rejects(lsp.completions({ ...project, uri, position: PY_MEMBER_ACCESS }), /call \/lsp\/start first/);
});
