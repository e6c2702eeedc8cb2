import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { derivedState, nextAction, settledState } from '../src/services/sandbox-state.js';
import { loadConfig } from '../src/config.js';

test('derived state follows the Daytona mapping', () => {
  assert.equal(derivedState('unknown', 'started'), 'creating');
  assert.equal(derivedState('started', 'stopped'), 'stopping');
  assert.equal(derivedState('started', 'destroyed'), 'destroying');
  assert.equal(derivedState('stopped', 'started'), 'starting');
  assert.equal(derivedState('stopped', 'destroyed'), 'destroying');
  assert.equal(derivedState('stopped', 'archived'), 'archiving');
  assert.equal(derivedState('archived', 'started'), 'restoring');
  assert.equal(derivedState('error', 'started'), 'error');
  assert.equal(derivedState('destroyed', 'destroyed'), 'destroyed');
});

const STORED = ['unknown', 'started', 'stopped', 'archived', 'destroyed', 'error'];
const DESIRED = ['started', 'stopped', 'archived', 'destroyed'];

test('every action settles in a state that either matches the desired state or needs no further action', () => {
  fc.assert(
    fc.property(fc.constantFrom(...STORED), fc.constantFrom(...DESIRED), (state, desired) => {
      const action = nextAction(state, desired);
      if (action === null) return;
      const after = settledState(action);
      // One action moves the sandbox to the desired state, except create/start → started on the way to elsewhere.
      assert.ok(after === desired || nextAction(after, desired) !== action, `${state}->${desired} loops on ${action}`);
    }),
  );
});

test('errored sandboxes are only ever destroyed, never restarted by the reconciler', () => {
  for (const d of ['started', 'stopped', 'archived']) assert.equal(nextAction('error', d), null);
  assert.equal(nextAction('error', 'destroyed'), 'destroy');
  assert.equal(nextAction('destroyed', 'started'), null);
});

test('config reports every invalid variable at once', () => {
  assert.throws(
    () => loadConfig({ SHOAL_API_PORT: 'abc', SHOAL_ADMIN_API_KEY: 'nope' }),
    (err: Error) => /DATABASE_URL is required/.test(err.message) && /SHOAL_API_PORT/.test(err.message) && /SHOAL_ADMIN_API_KEY/.test(err.message),
  );
  const c = loadConfig({ DATABASE_URL: 'postgres://x@y/z', SHOAL_PUBLIC_URL: 'http://example.test:8080/api/' });
  assert.equal(c.publicUrl, 'http://example.test:8080');
  assert.ok(Object.isFrozen(c));
});
