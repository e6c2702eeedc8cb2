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

test("the SDK wrapping becomes the inner sh's script and the exported variables", () => {
  const script = (command: string, env?: Record<string, string>) => {
    const u = unwrap(sdkCommand(command, env));
    return u && { script: u.script.toString('utf8'), env: u.env };
  };
  assert.deepEqual(script('echo hi'), { script: 'echo hi', env: {} });
  assert.deepEqual(script('printf "%s" "$A$B"', { A: 'x y', B: `q'"$` }), { script: 'printf "%s" "$A$B"', env: { A: 'x y', B: `q'"$` } });
  assert.deepEqual(script(''), { script: '', env: {} });
  assert.deepEqual(script('echo ✓ 日本'), { script: 'echo ✓ 日本', env: {} });
  // The script is bytes on a pipe, as before: a NUL or bytes that are not UTF-8 pass unchanged.
  for (const bytes of [Buffer.from([0x61, 0, 0x62]), Buffer.from([0xff, 0xfe])]) {
    assert.deepEqual(unwrapSdkCommand(['sh', '-c', `echo '${b64(bytes)}' | base64 -d | sh`])?.script, bytes);
  }
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
    `sh -c "export A=$(echo '${b64(Buffer.from([0x61, 0]))}' | base64 -d); echo '${b64('x')}' | base64 -d | sh"`, // NUL in a value
    `sh -c "export A=$(echo '${b64(Buffer.from([0xff]))}' | base64 -d); echo '${b64('x')}' | base64 -d | sh"`,
  ]) {
    assert.equal(unwrap(command), undefined, command);
  }
});
