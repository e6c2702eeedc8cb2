import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unwrapSdkCommand } from '../src/process/sdk-wrapping.js';
import { splitCommand } from '../src/process/split-command.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
/** What @daytonaio/sdk 0.108.1 sends for executeCommand(command, cwd, env) (sdk-wire-contract.md §9.1). */
function sdkCommand(command: string, env: Record<string, string> = {}): string {
  const prefix = Object.entries(env)
    .map(([k, v]) => `export ${k}=$(echo '${b64(v)}' | base64 -d)`)
    .join(';');
  return `sh -c "${prefix ? `${prefix}; ` : ''}echo '${b64(command)}' | base64 -d | sh"`;
}
const unwrap = (command: string) => unwrapSdkCommand(splitCommand(command));

test('the SDK wrapping becomes sh -c <script> with the exported variables', () => {
  assert.deepEqual(unwrap(sdkCommand('echo hi')), { argv: ['sh', '-c', 'echo hi'], env: {} });
  assert.deepEqual(unwrap(sdkCommand('printf "%s" "$A$B"', { A: 'x y', B: `q'"$` })), { argv: ['sh', '-c', 'printf "%s" "$A$B"'], env: { A: 'x y', B: `q'"$` } });
  assert.deepEqual(unwrap(sdkCommand('')), { argv: ['sh', '-c', ''], env: {} });
  assert.deepEqual(unwrap(sdkCommand('echo ✓ 日本')), { argv: ['sh', '-c', 'echo ✓ 日本'], env: {} });
});

test('values lose their trailing newlines, as $(...) does; a later export of a name wins', () => {
  assert.deepEqual(unwrap(sdkCommand('true', { A: 'v\n\n', B: '\nmid\nend\n' }))?.env, { A: 'v', B: '\nmid\nend' });
  const twice = `sh -c "export A=$(echo '${b64('1')}' | base64 -d);export A=$(echo '${b64('2')}' | base64 -d); echo '${b64('true')}' | base64 -d | sh"`;
  assert.deepEqual(unwrap(twice)?.env, { A: '2' });
});

test('anything else is left to the shell as sent', () => {
  for (const command of [
    'echo hi',
    'sh -c "echo hi"',
    `bash -c "echo '${b64('x')}' | base64 -d | sh"`,
    `sh -c "echo '${b64('x')}' | base64 -d | bash"`,
    `sh -c "echo '${b64('x')}' | base64 -d | sh; rm -rf /tmp/x"`,
    `sh -c "echo '${b64('x')}' | base64 -d | sh" extra`,
    `sh -c "export 1A=$(echo '${b64('v')}' | base64 -d); echo '${b64('x')}' | base64 -d | sh"`,
    `sh -c "export A=$(echo '${b64('v')}' | base64 -d) B=1; echo '${b64('x')}' | base64 -d | sh"`,
    `sh -c "echo 'aGk' | base64 -d | sh"`, // not padded: base64 -d would complain
    `sh -c "echo 'aGl=' | base64 -d | sh"`, // non-canonical
    `sh -c "echo '${b64(Buffer.from([0x61, 0, 0x62]))}' | base64 -d | sh"`, // NUL
    `sh -c "echo '${b64(Buffer.from([0xff, 0xfe]))}' | base64 -d | sh"`, // not UTF-8
    `sh -c "export A=$(echo '${b64(Buffer.from([0xff]))}' | base64 -d); echo '${b64('x')}' | base64 -d | sh"`,
  ]) {
    assert.equal(unwrap(command), undefined, command);
  }
});
