// The LSP routes of the real daemon (the bundle, so dist/lsp must carry the servers) driving the real language
// servers: the git-lsp flow for TypeScript and Python, bad input, a crashed server, and an idle one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startToolbox, type RunningToolbox } from './harness.js';
import { PY_MEMBER_ACCESS, TS_MEMBER_ACCESS, writeProjects } from './lsp-fixtures.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Language-server processes the daemon started: its children running a server script. */
function serverPids(toolboxPid: number, script: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === toolboxPid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(script)) pids.push(Number(name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/**
 * True once the process is gone or a zombie. Reading /proc of a dying process can fail with ESRCH as well as ENOENT,
 * so any read error means it exited (an existsSync-then-read check raced and failed a CI run with ESRCH).
 */
function hasExited(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).length === 0;
  } catch {
    return true;
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('LSP routes (bundle, real language servers)', { timeout: 300_000 }, () => {
  let tb: RunningToolbox;
  let ts: string;
  let py: string;
  before(async () => {
    execFileSync(process.execPath, [join(appRoot, 'scripts/build.mjs')], { stdio: 'ignore' });
    assert.ok(existsSync(join(appRoot, 'dist/lsp/node_modules/typescript-language-server/lib/cli.mjs')));
    assert.ok(existsSync(join(appRoot, 'dist/lsp/node_modules/pyright/langserver.index.js')));
    tb = await startToolbox({ entry: [join(appRoot, 'dist/toolbox.cjs')] });
    ({ ts, py } = writeProjects(tb.workdir));
  });
  after(async () => {
    await tb?.stop();
  });

  const post = (path: string, json: unknown) => tb.http('POST', path, { json });
  const get = (path: string, query: Record<string, string>) => tb.http('GET', `${path}?${new URLSearchParams(query)}`);

  function assertEnvelope(res: Awaited<ReturnType<RunningToolbox['http']>>, status: number, message: RegExp) {
    assert.equal(res.status, status, res.text);
    const body = res.json();
    assert.equal(body.statusCode, status);
    assert.match(body.message, message);
    assert.equal(typeof body.error, 'string');
    assert.equal(typeof body.timestamp, 'string');
    assert.equal(typeof body.path, 'string');
  }

  it('TypeScript: start, didOpen, document symbols with ranges, member completions, workspace symbols, didClose, stop', async () => {
    const project = { languageId: 'typescript', pathToProject: 'ts-project' };
    // As the SDK sends it: "file://" + the path the caller gave, here relative to the working directory.
    const uri = 'file://ts-project/src/shapes.ts';
    assert.equal((await post('/lsp/start', project)).status, 200);
    assert.equal((await post('/lsp/did-open', { ...project, uri })).status, 200);

    const symbols = (await get('/lsp/document-symbols', { ...project, uri })).json();
    const base = symbols.find((s: { name: string }) => s.name === 'Base');
    assert.deepEqual(base, { kind: 5, name: 'Base', location: { uri, range: { start: { line: 0, character: 0 }, end: { line: 5, character: 1 } } } });
    const make = symbols.find((s: { name: string }) => s.name === 'makeBase');
    assert.equal(make.kind, 12);
    assert.deepEqual(make.location.range, { start: { line: 7, character: 0 }, end: { line: 9, character: 1 } });
    assert.ok(symbols.some((s: { name: string; kind: number }) => s.name === 'area' && s.kind === 6), 'the method, flattened');

    const completions = (await post('/lsp/completions', { ...project, uri, position: TS_MEMBER_ACCESS })).json();
    assert.equal(typeof completions.isIncomplete, 'boolean');
    const labels = completions.items.map((i: { label: string }) => i.label).sort();
    assert.deepEqual(labels, ['area', 'width']);
    assert.equal(completions.items.find((i: { label: string }) => i.label === 'area').kind, 2);

    for (const path of ['/lsp/workspace-symbols', '/lsp/workspacesymbols']) {
      const found = (await get(path, { ...project, query: 'makeBa' })).json();
      const hit = found.find((s: { name: string }) => s.name === 'makeBase');
      assert.ok(hit, `${path}: ${JSON.stringify(found)}`);
      assert.equal(hit.location.uri, `file://${ts}/src/shapes.ts`);
      assert.equal(hit.location.range.start.line, 7);
    }
    assert.equal((await post('/lsp/did-close', { ...project, uri })).status, 200);
    assert.equal((await post('/lsp/stop', project)).status, 200);
    await until('the TypeScript server to exit', () => serverPids(tb.child.pid!, 'typescript-language-server').length === 0);
    assertEnvelope(await post('/lsp/did-open', { ...project, uri }), 400, /call \/lsp\/start first/);
  });

  it('Python: start, didOpen, document symbols, member completions, workspace symbols, stop', async () => {
    const project = { languageId: 'python', pathToProject: py };
    const uri = `file://${py}/shapes.py`;
    assert.equal((await post('/lsp/start', project)).status, 200);
    assert.equal((await post('/lsp/did-open', { ...project, uri })).status, 200);
    const symbols = (await get('/lsp/document-symbols', { ...project, uri })).json();
    const base = symbols.find((s: { name: string }) => s.name === 'Base');
    assert.equal(base.kind, 5);
    assert.deepEqual(base.location.range.start, { line: 0, character: 0 });
    assert.equal(base.location.range.end.line, 5);
    const make = symbols.find((s: { name: string }) => s.name === 'make_base');
    assert.equal(make.kind, 12);
    assert.equal(make.location.range.start.line, 8);
    assert.ok(symbols.some((s: { name: string }) => s.name === 'area'));

    const completions = (await post('/lsp/completions', { ...project, uri, position: PY_MEMBER_ACCESS })).json();
    const labels = completions.items.map((i: { label: string }) => i.label);
    assert.ok(labels.includes('area') && labels.includes('width'), JSON.stringify(labels));
    assert.ok(!labels.includes('make_base'), 'only members of Base');

    const found = (await get('/lsp/workspace-symbols', { ...project, query: 'make_base' })).json();
    assert.ok(found.some((s: { name: string; location: { uri: string } }) => s.name === 'make_base' && s.location.uri === uri));
    assert.equal((await post('/lsp/stop', project)).status, 200);
  });

  it('answers bad input with 4xx envelopes and starts nothing', async () => {
    const uri = `file://${ts}/src/shapes.ts`;
    assertEnvelope(await post('/lsp/start', { languageId: 'cobol', pathToProject: ts }), 400, /unsupported languageId "cobol".*typescript, python/);
    assertEnvelope(await post('/lsp/start', { languageId: '__proto__', pathToProject: ts }), 400, /unsupported languageId/);
    assertEnvelope(await post('/lsp/start', { languageId: 'typescript', pathToProject: '/no/such/dir' }), 404, /pathToProject \/no\/such\/dir: no such file/);
    assertEnvelope(await post('/lsp/start', { languageId: 'typescript', pathToProject: `${ts}/tsconfig.json` }), 400, /not a directory/);
    assertEnvelope(await post('/lsp/start', { languageId: 'typescript' }), 400, /pathToProject/);
    assert.deepEqual(serverPids(tb.child.pid!, 'typescript-language-server'), []);

    const project = { languageId: 'typescript', pathToProject: ts };
    // Before start: every call names the missing start.
    assertEnvelope(await post('/lsp/did-open', { ...project, uri }), 400, /no typescript language server is started/);
    assertEnvelope(await post('/lsp/completions', { ...project, uri, position: { line: 0, character: 0 } }), 400, /call \/lsp\/start first/);
    assertEnvelope(await get('/lsp/document-symbols', { ...project, uri }), 400, /call \/lsp\/start first/);
    assertEnvelope(await get('/lsp/workspace-symbols', { ...project, query: 'x' }), 400, /call \/lsp\/start first/);
    assertEnvelope(await post('/lsp/stop', project), 400, /call \/lsp\/start first/);
    assertEnvelope(await post('/lsp/did-close', { ...project, uri }), 400, /call \/lsp\/start first/);

    assert.equal((await post('/lsp/start', project)).status, 200);
    assertEnvelope(await post('/lsp/did-open', { ...project, uri: `${ts}/src/shapes.ts` }), 400, /expected a file:\/\/ URI/);
    assertEnvelope(await post('/lsp/did-open', { ...project, uri: 'http://example.com/x.ts' }), 400, /expected a file:\/\/ URI/);
    assertEnvelope(await post('/lsp/did-open', { ...project, uri: `file://${ts}/src/missing.ts` }), 404, /no such file/);
    assertEnvelope(await post('/lsp/did-open', { ...project, uri: `file://${ts}/src` }), 400, /not a regular file/);
    assertEnvelope(await post('/lsp/did-open', { ...project, uri: 'file:///proc/self/../../etc/../no-such' }), 404, /no such file/);
    assertEnvelope(await get('/lsp/document-symbols', { ...project }), 400, /query parameter uri is required/);
    const position = (line: number, character: number) => post('/lsp/completions', { ...project, uri, position: { line, character } });
    assertEnvelope(await position(99, 0), 400, /line 99 is out of range: the document has 14 lines/);
    assertEnvelope(await position(0, 80), 400, /character 80 is out of range: line 0 has 19 characters/);
    assertEnvelope(await position(-1, 0), 400, /position/);
    assert.equal((await position(13, 0)).status, 200, 'the empty last line is a position');
    assert.equal((await post('/lsp/stop', project)).status, 200);
  });

  it('a killed server never takes the toolbox down, and the next call works', async () => {
    const project = { languageId: 'typescript', pathToProject: ts };
    const uri = `file://${ts}/src/shapes.ts`;
    assert.equal((await post('/lsp/start', project)).status, 200);
    assert.equal((await post('/lsp/did-open', { ...project, uri })).status, 200);
    const [pid] = serverPids(tb.child.pid!, 'typescript-language-server');
    assert.ok(pid, 'the server runs as a child of the toolbox');
    process.kill(pid, 'SIGKILL');
    await until('the server to die', () => hasExited(pid));
    assert.equal((await tb.http('GET', '/version')).status, 200);
    // The document opened before the crash is open in the new server: completions work without a new didOpen.
    const completions = await post('/lsp/completions', { ...project, uri, position: TS_MEMBER_ACCESS });
    assert.equal(completions.status, 200, completions.text);
    assert.deepEqual(completions.json().items.map((i: { label: string }) => i.label).sort(), ['area', 'width']);
    const [next] = serverPids(tb.child.pid!, 'typescript-language-server');
    assert.ok(next && next !== pid);
    assert.equal((await post('/lsp/stop', project)).status, 200);
    assert.equal(tb.child.exitCode, null);
  });
});
