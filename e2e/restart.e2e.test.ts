// `npm start` may be stopped and started again: organizations, keys and sandboxes survive, and a stopped sandbox
// starts again with its files intact (issue "First run", acceptance 2).
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

test('a stopped sandbox keeps its file across a platform restart and starts again', async () => {
  const sandbox = await platform.sdk().create({ labels: { suite: 'restart' } });
  await sandbox.fs.uploadFile(Buffer.from('survives restarts\n'), 'notes/keep.txt');
  await sandbox.stop();
  const apiKey = platform.apiKey;

  platform = await platform.restart();
  assert.equal(platform.apiKey, apiKey, 'the API key survives a restart');

  const again = await platform.sdk().get(sandbox.id);
  assert.equal(again.state, 'stopped');
  assert.equal(again.labels.suite, 'restart');
  await again.start();
  assert.equal(again.state, 'started');
  const content = await again.fs.downloadFile('notes/keep.txt');
  assert.equal(content.toString(), 'survives restarts\n');
  await again.delete();
});

test('a sandbox left running when the platform stops is reported correctly afterwards and can be used', async () => {
  const sandbox = await platform.sdk().create({ labels: { suite: 'restart-running' } });
  await sandbox.process.executeCommand('sh -c "echo still-here > mark.txt"');

  platform = await platform.restart();

  const again = await platform.sdk().get(sandbox.id);
  // Ctrl-C stops the sandboxes with the platform; after the restart they are stopped (or already started again).
  assert.ok(['stopped', 'started'].includes(String(again.state)), `state after restart: ${again.state}`);
  if (again.state !== 'started') await again.start();
  const r = await again.process.executeCommand('cat mark.txt');
  assert.equal(r.result.trim(), 'still-here');
  await again.delete();
});
