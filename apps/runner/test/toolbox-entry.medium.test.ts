import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureNodeRuntime } from '../src/toolbox/node-runtime.js';
import { chooseToolboxEntry, TOOLBOX_BUNDLE_ARGS, TOOLBOX_SNAPSHOT_ARGS } from '../src/toolbox/toolbox-entry.js';

const toolboxDist = join(dirname(fileURLToPath(import.meta.url)), '../../toolbox/dist');

/** How the runner picks the toolbox's start: the snapshot only when the very Node it injects loads it. */
describe('toolbox entry', () => {
  let work: string;
  let nodeRuntime: string;
  before(async () => {
    if (!existsSync(join(toolboxDist, 'toolbox.blob'))) execFileSync(process.execPath, [join(toolboxDist, '../scripts/build.mjs')], { stdio: 'ignore' });
    work = mkdtempSync(join(tmpdir(), 'shoal-toolbox-entry-'));
    nodeRuntime = await ensureNodeRuntime(work);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test("the build's blob, loaded by the injected (patched) Node: the snapshot", async () => {
    const r = await chooseToolboxEntry(toolboxDist, nodeRuntime, true);
    assert.deepEqual(r.args, TOOLBOX_SNAPSHOT_ARGS, r.reason);
    assert.ok(r.args.includes('--snapshot-blob') && r.args.at(-1) === '/.shoal/toolbox/toolbox.blob');
  });

  test('turned off, missing, or a blob this Node refuses: the bundle, with the reason', async () => {
    assert.deepEqual((await chooseToolboxEntry(toolboxDist, nodeRuntime, false)).args, TOOLBOX_BUNDLE_ARGS);
    const dir = join(work, 'dist');
    execFileSync('mkdir', ['-p', dir]);
    const missing = await chooseToolboxEntry(dir, nodeRuntime, true);
    assert.deepEqual(missing.args, TOOLBOX_BUNDLE_ARGS);
    assert.match(missing.reason, /made no startup snapshot/);
    // A blob from "another Node": the same bytes with its header damaged, which Node checks before anything runs.
    const blob = readFileSync(join(toolboxDist, 'toolbox.blob'));
    blob.fill(0x41, 0, 64);
    writeFileSync(join(dir, 'toolbox.blob'), blob);
    copyFileSync(join(toolboxDist, 'toolbox.cjs'), join(dir, 'toolbox.cjs'));
    const refused = await chooseToolboxEntry(dir, nodeRuntime, true);
    assert.deepEqual(refused.args, TOOLBOX_BUNDLE_ARGS);
    assert.match(refused.reason, /does not load with the injected Node/);
  });
});
