// The first-run promise of the README: the official SDK, unchanged, creates a sandbox on a real runner,
// runs python3 and node in the default snapshot, and deletes it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestPlatform, type TestPlatform } from './src/harness.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});

after(async () => {
  await platform?.close();
});

test('SDK create() + executeCommand() run python3 and node in the default snapshot, then delete', async () => {
  const daytona = platform.sdk();
  const sandbox = await daytona.create();
  try {
    assert.equal(sandbox.state, 'started');
    assert.equal(sandbox.labels['code-toolbox-language'], 'python');
    const py = await sandbox.process.executeCommand(`python3 -c 'print(6*7)'`);
    assert.equal(py.exitCode, 0);
    assert.equal(py.result.trim(), '42');
    const js = await sandbox.process.executeCommand(`node -e 'console.log(6*7)'`);
    assert.equal(js.exitCode, 0);
    assert.equal(js.result.trim(), '42');
    const failing = await sandbox.process.executeCommand('sh -c "echo oops >&2; exit 3"');
    assert.equal(failing.exitCode, 3);
    assert.match(failing.result, /oops/);
  } finally {
    await sandbox.delete();
  }
  const gone = await daytona.get(sandbox.id);
  assert.ok(['destroying', 'destroyed'].includes(String(gone.state)), `state after delete: ${gone.state}`);
});
