// The public API documents the toolbox operations from one table (packages/contracts/src/toolbox-operations.ts)
// because it only proxies them. This keeps that table and the daemon's real routes the same in both directions.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TOOLBOX_OPERATIONS, TOOLBOX_SCHEMAS } from '@shoal/contracts';
import { buildToolbox } from '../src/app.js';

/**
 * Routes the daemon serves that are not part of the public toolbox API: the runner and the SSH gateway use
 * getVersion; /computeruse/process-status (every desktop process at once) is the reference daemon's but not in its
 * public document; /lsp/workspacesymbols is the reference daemon's own spelling of the documented /lsp/workspace-symbols;
 * /.shoal/env is the runner's (a warm-pool claim's environment), refused by its proxy.
 */
const INTERNAL = new Set(['getVersion', 'lspWorkspaceSymbolsAlias', 'getComputerUseProcessStatus', 'shoalMergeEnv']);

const runtimeDir = mkdtempSync(join(tmpdir(), 'toolbox-ops-'));
after(() => rmSync(runtimeDir, { recursive: true, force: true }));
const app = buildToolbox({
  identity: { user: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
  workdir: runtimeDir,
  env: {},
  runtimeDir,
  log: () => undefined,
});
after(() => app.shutdown());
const routes = app.routes();
/** Path parameters compare by position: the daemon and the document may name them differently. */
const key = (method: string, path: string) => `${method} ${path.replace(/\{\w+\}|:\w+/g, ':')}`;

test('every documented toolbox operation has a route in the daemon, under its operation name', () => {
  const byKey = new Map(routes.map((r) => [key(r.method, r.path), r.operation]));
  const absent = TOOLBOX_OPERATIONS.filter((o) => !byKey.has(key(o.method, o.path))).map((o) => `${o.operationId} ${key(o.method, o.path)}`);
  assert.deepEqual(absent, []);
  // LSP and computer use answer 501 from placeholder routes until the daemon serves them.
  const misnamed = TOOLBOX_OPERATIONS.filter((o) => {
    const name = byKey.get(key(o.method, o.path));
    return name !== o.operationId && !(o.tag === 'lsp' && name === 'lsp') && !(o.tag === 'computer-use' && name === 'computerUse');
  }).map((o) => `${o.operationId}: ${byKey.get(key(o.method, o.path))}`);
  assert.deepEqual(misnamed, []);
});

test('every route of the daemon is documented, or known to be internal', () => {
  const documented = new Set(TOOLBOX_OPERATIONS.map((o) => key(o.method, o.path)));
  const undocumented = routes
    .filter((r) => r.operation !== 'lsp' && r.operation !== 'computerUse' && !INTERNAL.has(r.operation))
    .filter((r) => !documented.has(key(r.method, r.path)))
    .map((r) => `${r.operation} ${key(r.method, r.path)}`);
  assert.deepEqual(undocumented, []);
});

test('operation ids are unique and every schema an operation names exists', () => {
  const ids = TOOLBOX_OPERATIONS.map((o) => o.operationId);
  assert.equal(new Set(ids).size, ids.length);
  for (const o of TOOLBOX_OPERATIONS) {
    if (o.answer.kind === 'json') assert.ok(TOOLBOX_SCHEMAS[o.answer.schema], `${o.operationId}: ${o.answer.schema}`);
    if (o.body?.kind === 'json') assert.ok(TOOLBOX_SCHEMAS[o.body.schema], `${o.operationId}: ${o.body.schema}`);
  }
});
