import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFailures, tapFailures } from './tap-failures.js';

// The shape node 20's TAP reporter writes: a failed test inside a suite, the suite failed for it, a failed top test.
const TAP = `TAP version 13
# Subtest: outer
    # Subtest: inner fails
    not ok 1 - inner fails
      ---
      duration_ms: 1.7
      location: '/x/a.e2e.test.ts:4:3'
      failureType: 'testCodeFailure'
      error: |-
        limited egress: 198.18.7.2 must be unreachable, got OK hello
        
        1 !== 2
        
      code: 'ERR_ASSERTION'
      stack: |-
        TestContext.<anonymous> (file:///x/a.e2e.test.ts:4:38)
        Test.runInAsyncScope (node:async_hooks:206:9)
      ...
    # Subtest: inner ok
    ok 2 - inner ok
      ---
      duration_ms: 0.1
      ...
    1..2
not ok 1 - outer
  ---
  duration_ms: 2.7
  type: 'suite'
  location: '/x/a.e2e.test.ts:3:1'
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  code: 'ERR_TEST_FAILURE'
  ...
# Subtest: top fails
not ok 2 - top fails
  ---
  duration_ms: 0.1
  location: '/x/a.e2e.test.ts:7:1'
  failureType: 'testCodeFailure'
  error: 'boom'
  code: 'ERR_TEST_FAILURE'
  stack: |-
    Test.run (node:internal/test_runner/test:796:25)
  ...
1..2
# fail 2
`;

test('failed tests come with their message and place; a suite failed only by its tests is left out', () => {
  const f = tapFailures(TAP);
  assert.deepEqual(f, [
    {
      name: 'inner fails',
      location: '/x/a.e2e.test.ts:4:3',
      error: ['limited egress: 198.18.7.2 must be unreachable, got OK hello', '', '1 !== 2'],
      at: 'TestContext.<anonymous> (file:///x/a.e2e.test.ts:4:38)',
    },
    { name: 'top fails', location: '/x/a.e2e.test.ts:7:1', error: ['boom'] },
  ]);
  assert.equal(
    formatFailures([{ file: 'e2e/a.e2e.test.ts', failures: f }]),
    [
      '✖ e2e/a.e2e.test.ts: inner fails',
      '    at TestContext.<anonymous> (file:///x/a.e2e.test.ts:4:38)',
      '    limited egress: 198.18.7.2 must be unreachable, got OK hello',
      '    ',
      '    1 !== 2',
      '✖ e2e/a.e2e.test.ts: top fails',
      '    at /x/a.e2e.test.ts:7:1',
      '    boom',
    ].join('\n'),
  );
});

test('a passing run and a long error', () => {
  assert.deepEqual(tapFailures('TAP version 13\nok 1 - fine\n  ---\n  duration_ms: 1\n  ...\n1..1\n'), []);
  const long = `not ok 1 - long\n  ---\n  error: |-\n${Array.from({ length: 20 }, (_, i) => `    line ${i}`).join('\n')}\n  ...\n`;
  const [f] = tapFailures(long);
  assert.equal(f!.error.length, 13);
  assert.equal(f!.error[12], '… 8 more line(s)');
});
