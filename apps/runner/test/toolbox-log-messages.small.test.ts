// The snapshot trial reads the entrypoint's fate from the sandbox's toolbox.log, which the daemon writes as JSON lines
// (apps/toolbox log.ts): the messages come out as the daemon wrote them, quotes of the entrypoint's argv included, and
// lines of the runtime that are not JSON pass through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLog } from '../../toolbox/src/log.js';
import { toolboxMessages } from '../src/images/snapshot-trial.js';

test('toolbox log lines become their messages; other lines stay as they are', () => {
  let text = '';
  const log = jsonLog((line) => (text += line));
  log('listening on fd 3');
  log('entrypoint ["/bin/cat","/no/such/file"] exited (code 1)', { reqId: 'r1' });
  text += 'crun: some runtime error\n';
  assert.equal(toolboxMessages(text), 'listening on fd 3\nentrypoint ["/bin/cat","/no/such/file"] exited (code 1)\ncrun: some runtime error\n');
  assert.equal(/entrypoint .* exited \((.*)\)/.exec(toolboxMessages(text))?.[1], 'code 1');
});
