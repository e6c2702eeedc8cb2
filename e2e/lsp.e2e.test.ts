// Issue 14 acceptance, LSP: the git-lsp example's flow with @daytonaio/sdk@0.108.1 against a repository the test
// serves from a network namespace on the host, on the default snapshot (which has no language server: the toolbox
// brings its own). TypeScript and Python: start, didOpen, document symbols (classes and functions with ranges),
// replaceInFiles + didClose + didOpen, completions at a member access (that class's members), stop. Also: the
// servers run as the sandbox user in the sandbox's cgroup, a killed server is replaced by the next call, and bad
// input answers 4xx.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DaytonaError, type Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { startGitHttpServer, type GitHttpServer } from './src/git-http-netns.js';
import { assertClientError, deleteAndWait, eventually, isNotFound, toolboxRaw } from './src/toolbox-helpers.js';

const TS_SOURCE = `export class Base {
  width = 1;
  area(): number {
    return this.width * 2;
  }
}

export function makeBase(): Base {
  return new Base();
}

var obj1 = new Base();
console.log(obj1);
`;

const PY_SOURCE = `class Base:
    def __init__(self):
        self.width = 1

    def area(self) -> int:
        return self.width * 2


def make_base() -> Base:
    return Base()


obj1 = Base()
print(obj1)
`;

let platform: TestPlatform;
let sandbox: Sandbox;
let server: GitHttpServer | undefined;
const started = Date.now();

before(async () => {
  platform = await startTestPlatform();
  [sandbox, server] = await Promise.all([platform.sdk().create({ labels: { suite: 'lsp' } }), startGitHttpServer()]);
  await server.createRepo('lsp-demo', { 'src/shapes.ts': TS_SOURCE, 'tsconfig.json': '{"compilerOptions":{"strict":true}}\n', 'py/shapes.py': PY_SOURCE });
  await sandbox.git.clone(`${server.url}/git/lsp-demo.git`, 'lsp-demo');
});

after(async () => {
  await server?.close();
  if (sandbox) await deleteAndWait(platform, sandbox);
  await platform?.close();
  console.log(`lsp e2e: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});

async function sh(command: string): Promise<string> {
  const r = await sandbox.process.executeCommand(command);
  assert.equal(r.exitCode, 0, `${command}: ${r.result}`);
  return r.result.trim();
}

/**
 * The lowest pid in the sandbox whose command line contains `needle` (the language server, not the tsserver it
 * starts later); the pattern's first letter in brackets keeps the searching shell itself from matching.
 */
async function pidOf(needle: string): Promise<string> {
  const pattern = `[${needle[0]}]${needle.slice(1)}`;
  return sh(`sh -c 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q -- "${pattern}" && echo \${p#/proc/} && break; done; true'`);
}

describe('git-lsp flow', () => {
  for (const lang of [
    {
      languageId: 'typescript',
      project: 'lsp-demo',
      find: 'var obj1 = new Base();',
      replace: ['console.log(obj1);', 'obj1.'] as const,
      symbols: [
        ['Base', 5, 0, 5],
        ['makeBase', 12, 7, 9],
      ] as const,
      members: ['area', 'width'],
      script: 'typescript-language-server',
      memberAccess: { line: 12, character: 5 },
    },
    {
      languageId: 'python',
      project: 'lsp-demo/py',
      find: 'obj1 = Base()',
      replace: ['print(obj1)', 'obj1.'] as const,
      symbols: [
        ['Base', 5, 0, 5],
        ['make_base', 12, 8, 9],
      ] as const,
      members: ['area', 'width'],
      script: 'pyright/langserver',
      memberAccess: { line: 13, character: 5 },
    },
  ]) {
    test(`${lang.languageId}: start, didOpen, documentSymbols, replaceInFiles, didClose, didOpen, completions, stop`, async () => {
      const t0 = Date.now();
      const matches = await sandbox.fs.findFiles(lang.project, lang.find);
      const file = matches.find((m) => m.file.endsWith(lang.languageId === 'python' ? '.py' : '.ts'))?.file;
      assert.ok(file, JSON.stringify(matches));
      const lsp = await sandbox.createLspServer(lang.languageId, lang.project);
      await lsp.start();
      await lsp.didOpen(file);
      const symbols = await lsp.documentSymbols(file);
      for (const [name, kind, startLine, endLine] of lang.symbols) {
        const symbol = symbols.find((s) => s.name === name);
        assert.ok(symbol, `${name} in ${JSON.stringify(symbols)}`);
        assert.equal(symbol.kind, kind, name);
        assert.equal(symbol.location.uri, `file://${file}`);
        assert.equal(symbol.location.range.start.line, startLine, name);
        assert.equal(symbol.location.range.end.line, endLine, name);
      }
      assert.ok(symbols.some((s) => s.name === 'area'), 'the method inside the class, flattened');

      await sandbox.fs.replaceInFiles([file], lang.replace[0], lang.replace[1]);
      await lsp.didClose(file);
      await lsp.didOpen(file);
      const t1 = Date.now();
      const completions = await lsp.completions(file, lang.memberAccess);
      const labels = completions.items.map((i) => i.label);
      for (const member of lang.members) assert.ok(labels.includes(member), `${member} in ${JSON.stringify(labels)}`);
      assert.ok(!labels.includes(lang.symbols[1][0]), 'members of Base only, not module-level names');
      console.log(`${lang.languageId}: start to first completion ${t1 - t0 + (Date.now() - t1)} ms (completion ${Date.now() - t1} ms)`);

      // The server is the sandbox user's process, in the same cgroup as the toolbox (its memory counts against the sandbox).
      const pid = await pidOf(lang.script);
      assert.match(pid, /^\d+$/);
      const [owner, me] = (await sh(`sh -c 'stat -c %U /proc/${pid}; id -un'`)).split('\n');
      assert.equal(owner, me);
      const [serverCgroup, shellCgroup] = (await sh(`sh -c 'cat /proc/${pid}/cgroup; echo ---; cat /proc/self/cgroup'`)).split('---');
      assert.equal(serverCgroup!.trim(), shellCgroup!.trim());

      // A killed server: the toolbox keeps answering and the next call starts a new one (documents re-opened).
      await sh(`kill -9 ${pid}`);
      await eventually(async () => (await pidOf(lang.script)) !== pid || undefined, 'the killed server to be gone', 10_000);
      const again = await lsp.completions(file, lang.memberAccess);
      assert.ok(again.items.some((i) => i.label === 'area'));
      assert.notEqual(await pidOf(lang.script), pid);

      await lsp.stop();
      await eventually(async () => (await pidOf(lang.script)) === '' || undefined, 'the server to exit after stop', 15_000);
      await assert.rejects(lsp.completions(file, lang.memberAccess), (err: Error) => {
        assert.ok(err instanceof DaytonaError && !isNotFound(err));
        assert.match(err.message, /call \/lsp\/start first/);
        return true;
      });
    });
  }
});

describe('bad input', () => {
  test('unknown language, missing project, file outside the project tree, position out of range: 4xx envelopes', async () => {
    const body = (json: unknown) => ({ body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });
    assertClientError(await toolboxRaw(platform, sandbox.id, 'POST', 'lsp/start', body({ languageId: 'cobol', pathToProject: 'lsp-demo' })), 400, /unsupported languageId/);
    const missing = await sandbox.createLspServer('typescript', 'no-such-project');
    await assert.rejects(missing.start(), (err: Error) => isNotFound(err) && /no such file/.test(err.message));
    const lsp = await sandbox.createLspServer('python', 'lsp-demo/py');
    await lsp.start();
    await assert.rejects(lsp.didOpen('/no/such/file.py'), (err: Error) => isNotFound(err));
    const outOfRange = await toolboxRaw(
      platform,
      sandbox.id,
      'POST',
      'lsp/completions',
      body({ languageId: 'python', pathToProject: 'lsp-demo/py', uri: 'file://lsp-demo/py/shapes.py', position: { line: 500, character: 0 } }),
    );
    assertClientError(outOfRange, 400, /line 500 is out of range/);
    // The daemon's own spelling of workspace symbols answers too (the SDK uses workspace-symbols).
    const res = await toolboxRaw(platform, sandbox.id, 'GET', 'lsp/workspacesymbols?languageId=python&pathToProject=lsp-demo/py&query=make_base');
    assert.equal(res.status, 200, res.text);
    assert.ok((res.json as { name: string }[]).some((s) => s.name === 'make_base'));
    await lsp.stop();
  });
});
