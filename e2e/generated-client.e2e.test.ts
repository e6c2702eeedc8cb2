// Issue 17 acceptance: a client generated from Shoal's own OpenAPI document with maintained generators from npm
// (openapi-typescript for the types, openapi-fetch for the calls) compiles under strict TypeScript, and its calls for
// API keys, snapshots and the sandbox lifecycle (with a toolbox command) work against a running Shoal.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import openapiTS, { astToString } from 'openapi-typescript';
import { fetchOpenApi } from './src/openapi.js';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

const run = promisify(execFile);
const here = import.meta.dirname;
let platform: TestPlatform;
let origin: string;
let dir: string;

before(async () => {
  platform = await startTestPlatform();
  origin = platform.apiUrl.replace(/\/api$/, '');
  // Inside the repository, so the client resolves openapi-fetch from node_modules like a user's project would.
  dir = await mkdtemp(join(here, 'fixtures', 'generated-client', '.run-'));
});

after(async () => {
  await platform?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('types generated from the document compile with a strict client, and its calls work', { timeout: 600_000 }, async () => {
  const doc = await fetchOpenApi(origin);
  const t0 = performance.now();
  const types = astToString(await openapiTS(doc as never));
  await writeFile(join(dir, 'schema.d.ts'), types);
  await copyFile(join(here, 'fixtures', 'generated-client', 'client.ts'), join(dir, 'client.ts'));
  const tGenerated = performance.now();
  const tsc = join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', join(dir, 'client.ts')];
  const compiled = await run(process.execPath, [tsc, ...args], { cwd: dir }).then(
    () => '',
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
  );
  assert.equal(compiled, '', `the generated client does not compile:\n${compiled.slice(0, 4000)}`);
  const tCompiled = performance.now();
  console.log(`[generated-client] ${Object.keys(doc.paths).length} paths; types ${(types.length / 1024).toFixed(0)} KiB in ${(tGenerated - t0).toFixed(0)} ms; strict tsc ${(tCompiled - tGenerated).toFixed(0)} ms`);

  // The client is compiled on its own (above): the suite's own type-check cannot see the generated schema.
  const client = (await import(join(dir, 'client.ts'))) as { run: (origin: string, apiKey: string) => Promise<{ steps: string[] }> };
  const report = await client.run(origin, platform.apiKey);
  console.log(`[generated-client] ${report.steps.join('; ')}`);
  assert.equal(report.steps.length, 7);
});
