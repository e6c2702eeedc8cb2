// Every `sandbox.process` method of @daytonaio/sdk@0.108.1 against real sandboxes through the real API, runner and
// preview proxy: executeCommand (cwd, env, exit codes, timeout), codeRun in python and javascript, sessions (state kept
// between commands, sync and async execution, logs with and without callbacks), PTYs (interactive prompt, resize,
// several clients, disconnect/reconnect, kill) and bad input answered with a clear 4xx.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DaytonaError, type PtyHandle, type Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { assertClientError, deleteAndWait, eventually, isNotFound, toolboxRaw } from './src/toolbox-helpers.js';

let platform: TestPlatform;
let py: Sandbox;
let js: Sandbox;

before(async () => {
  platform = await startTestPlatform();
  const daytona = platform.sdk();
  py = await daytona.create({ language: 'python', labels: { suite: 'toolbox-process' } });
  js = await daytona.create({ language: 'javascript', labels: { suite: 'toolbox-process' } });
});

after(async () => {
  await Promise.all([py, js].filter(Boolean).map((s) => deleteAndWait(platform, s)));
  await platform?.close();
});

const alive = async () => assert.equal((await py.process.executeCommand('echo alive')).result, 'alive\n');

describe('executeCommand', () => {
  test('returns combined output and the exit code', async () => {
    const ok = await py.process.executeCommand('echo out; echo err >&2');
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.result, 'out\nerr\n');
    assert.equal(ok.artifacts?.stdout, 'out\nerr\n');
    const failed = await py.process.executeCommand('echo before; exit 3');
    assert.equal(failed.exitCode, 3);
    assert.equal(failed.result, 'before\n');
    const missing = await py.process.executeCommand('definitely-not-a-command-xyz');
    assert.equal(missing.exitCode, 127);
    assert.match(missing.result, /not found/);
  });

  test('runs in the work dir by default and in cwd when given', async () => {
    const workDir = await py.getWorkDir();
    assert.equal((await py.process.executeCommand('pwd')).result.trim(), workDir);
    assert.equal((await py.process.executeCommand('pwd', '/tmp')).result, '/tmp\n');
    await py.fs.createFolder('exec-cwd/sub', '755');
    assert.equal((await py.process.executeCommand('pwd', `${workDir}/exec-cwd/sub`)).result, `${workDir}/exec-cwd/sub\n`);
  });

  test('env values with spaces, quotes, dollars and newlines survive exactly', async () => {
    const env = {
      SPACES: 'hello   wide world',
      QUOTES: `it's "double" and 'single'`,
      DOLLARS: '$HOME $(id) `id` \\n',
      MULTI: 'line one\nline two',
      EMPTYISH: ' ',
    };
    const r = await py.process.executeCommand(
      'printf "%s|%s|%s|%s|%s" "$SPACES" "$QUOTES" "$DOLLARS" "$MULTI" "$EMPTYISH"',
      undefined,
      env,
    );
    assert.equal(r.exitCode, 0, r.result);
    assert.equal(r.result, [env.SPACES, env.QUOTES, env.DOLLARS, env.MULTI, env.EMPTYISH].join('|'));
  });

  test('commands with shell syntax, quotes and long output come back whole', async () => {
    const r = await py.process.executeCommand(`for i in 1 2 3; do printf '%s "%s" ' "$i" 'a  b'; done; echo`);
    assert.equal(r.result, '1 "a  b" 2 "a  b" 3 "a  b" \n');
    const big = await py.process.executeCommand('head -c 1048576 /dev/zero | tr "\\0" a; echo; seq 1 20000 | tail -1');
    assert.equal(big.exitCode, 0);
    const [line, last] = big.result.split('\n');
    assert.equal(line!.length, 1048576);
    assert.equal(last, '20000');
  });

  test('the raw execute route splits on quotes without an outer shell and answers {exitCode, result}', async () => {
    const res = await toolboxRaw(platform, py.id, 'POST', 'process/execute', {
      body: JSON.stringify({ command: `printf "%s|%s|" 'a  b' "it's"` }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { exitCode: 0, result: `a  b|it's|` });
  });

  test('a program added, removed or made non-executable on PATH is what the next command finds', async () => {
    // The raw route runs its program without a shell, so the toolbox's own PATH lookup (kept between commands while
    // the PATH's directories are unchanged: process/path-lookups.ts) is what finds it.
    const raw = async () => {
      const res = await toolboxRaw(platform, py.id, 'POST', 'process/execute', { body: JSON.stringify({ command: 'shoal-path-probe' }), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200, res.text);
      return res.json as { exitCode: number; result: string };
    };
    const install = async (dir: string, word: string) =>
      assert.equal((await py.process.executeCommand(`sudo sh -c 'printf "#!/bin/sh\\necho ${word}\\n" > ${dir}/shoal-path-probe && chmod 755 ${dir}/shoal-path-probe'`)).exitCode, 0);
    assert.equal((await raw()).exitCode, -1);
    await install('/usr/bin', 'late');
    assert.deepEqual([await raw(), await raw()], [{ exitCode: 0, result: 'late\n' }, { exitCode: 0, result: 'late\n' }]);
    await install('/usr/local/bin', 'early');
    assert.deepEqual(await raw(), { exitCode: 0, result: 'early\n' });
    assert.equal((await py.process.executeCommand('sudo rm /usr/local/bin/shoal-path-probe')).exitCode, 0);
    assert.deepEqual(await raw(), { exitCode: 0, result: 'late\n' });
    assert.equal((await py.process.executeCommand('sudo chmod 644 /usr/bin/shoal-path-probe')).exitCode, 0);
    // Found but not executable: refused as a shell refuses it (126), not run from what was known before.
    const denied = await raw();
    assert.equal(denied.exitCode, 126, denied.result);
    assert.doesNotMatch(denied.result, /late/);
    await py.process.executeCommand('sudo rm -f /usr/bin/shoal-path-probe');
  });

  test('a timeout kills the command and is reported as an error', async () => {
    await assert.rejects(py.process.executeCommand('sleep 30; echo never', undefined, undefined, 1), (err: Error) => {
      assert.ok(err instanceof DaytonaError);
      assert.match(err.message, /timeout|timed out/i);
      return true;
    });
    const raw = await toolboxRaw(platform, py.id, 'POST', 'process/execute', {
      body: JSON.stringify({ command: 'sleep 30', timeout: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    assertClientError(raw, 408, /timeout/i);
    await alive();
  });
});

describe('codeRun', () => {
  test('python: stdout, argv, env and a failing exit code', async () => {
    const r = await py.process.codeRun(
      'import os, sys\nprint("py", sys.argv[1:], os.environ["WHO"])\nprint("second line")\n',
      { argv: ['one', 'two'], env: { WHO: 'shoal user' } },
    );
    assert.equal(r.exitCode, 0, r.result);
    assert.equal(r.result, "py ['one', 'two'] shoal user\nsecond line\n");
    assert.deepEqual(r.artifacts?.charts, undefined);
    const bad = await py.process.codeRun('raise SystemExit(4)');
    assert.equal(bad.exitCode, 4);
    const err = await py.process.codeRun('1/0');
    assert.notEqual(err.exitCode, 0);
    assert.match(err.result, /ZeroDivisionError/);
  });

  test('python: matplotlib charts come back as artifacts (the default snapshot ships python3-matplotlib)', async () => {
    const r = await py.process.codeRun(
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title("squares")\nplt.show()\nprint("done")\n',
    );
    assert.equal(r.exitCode, 0, r.result);
    assert.equal(r.artifacts?.charts?.length, 1);
    assert.equal(r.artifacts!.charts![0]!.title, 'squares');
    assert.ok((r.artifacts!.charts![0]!.png ?? '').length > 100);
    assert.equal(r.result.trim(), 'done');
  });

  test('javascript: stdout, argv, env and a failing exit code', async () => {
    const r = await js.process.codeRun(
      'console.log("js", process.argv.slice(-2).join(","), process.env.WHO);\nconsole.log([1, 2, 3].map((x) => x * 2).join(" "));',
      { argv: ['one', 'two'], env: { WHO: 'shoal user' } },
    );
    assert.equal(r.exitCode, 0, r.result);
    assert.equal(r.result, 'js one,two shoal user\n2 4 6\n');
    const thrown = await js.process.codeRun('throw new Error("boom from js")');
    assert.match(thrown.result, /boom from js/);
  });
});

describe('sessions', () => {
  const sid = `sess-${Date.now()}`;

  test('createSession, listSessions, getSession', async () => {
    await py.process.createSession(sid);
    const listed = await py.process.listSessions();
    assert.ok(listed.some((s) => s.sessionId === sid), JSON.stringify(listed));
    const got = await py.process.getSession(sid);
    assert.equal(got.sessionId, sid);
    assert.ok(got.commands === null || got.commands === undefined || got.commands.length === 0);
  });

  test('a session keeps cd and export between commands', async () => {
    await py.process.executeSessionCommand(sid, { command: 'mkdir -p /tmp/session-dir && cd /tmp/session-dir' });
    const exp = await py.process.executeSessionCommand(sid, { command: `export GREETING="hello 'quoted' world"` });
    assert.equal(exp.exitCode, 0);
    const pwd = await py.process.executeSessionCommand(sid, { command: 'pwd' });
    assert.equal(pwd.stdout, '/tmp/session-dir\n');
    const echo = await py.process.executeSessionCommand(sid, { command: 'echo "$GREETING"' });
    assert.equal(echo.exitCode, 0);
    assert.equal(echo.stdout, `hello 'quoted' world\n`);
    assert.equal(echo.stderr, '');
    const fn = await py.process.executeSessionCommand(sid, { command: 'shout() { echo "$1!"; }' });
    assert.equal(fn.exitCode, 0);
    assert.equal((await py.process.executeSessionCommand(sid, { command: 'shout hey' })).stdout, 'hey!\n');
  });

  test('sync exec demuxes stdout and stderr and reports exit codes; getSessionCommand and logs agree', async () => {
    const r = await py.process.executeSessionCommand(sid, { command: 'echo to-out; echo to-err >&2; echo more-out; false' });
    assert.ok(r.cmdId);
    assert.equal(r.exitCode, 1);
    assert.equal(r.stdout, 'to-out\nmore-out\n');
    assert.equal(r.stderr, 'to-err\n');
    const cmd = await py.process.getSessionCommand(sid, r.cmdId!);
    assert.equal(cmd.id, r.cmdId);
    assert.equal(cmd.command, 'echo to-out; echo to-err >&2; echo more-out; false');
    assert.equal(cmd.exitCode, 1);
    const logs = await py.process.getSessionCommandLogs(sid, r.cmdId!);
    assert.equal(logs.stdout, 'to-out\nmore-out\n');
    assert.equal(logs.stderr, 'to-err\n');
    const session = await py.process.getSession(sid);
    assert.ok(session.commands?.some((c) => c.id === r.cmdId && c.exitCode === 1));
  });

  test('async exec: exitCode absent while running, logs arrive in order through the callbacks, then the exit code', async () => {
    const gate = `/tmp/gate-${Date.now()}`;
    const command =
      `for i in 1 2 3; do echo out-$i; echo err-$i >&2; done; ` +
      `while [ ! -e ${gate} ]; do sleep 0.05; done; ` +
      // `exit` would end the session's shell itself (as in Daytona), so the status comes from a child.
      `for i in 4 5 6; do echo out-$i; echo err-$i >&2; done; sh -c 'exit 7'`;
    const started = await py.process.executeSessionCommand(sid, { command, runAsync: true });
    assert.ok(started.cmdId);
    assert.equal(started.exitCode, undefined);
    const running = await py.process.getSessionCommand(sid, started.cmdId!);
    assert.equal(running.exitCode, undefined, 'exitCode must be absent while the command runs');

    let stdout = '';
    let stderr = '';
    const follow = py.process.getSessionCommandLogs(
      sid,
      started.cmdId!,
      (chunk) => (stdout += chunk),
      (chunk) => (stderr += chunk),
    );
    // The follow stream replays what was written before it connected.
    await eventually(() => stdout.includes('out-3') && stderr.includes('err-3'), 'the first three lines over the follow stream');
    assert.equal((await py.process.getSessionCommand(sid, started.cmdId!)).exitCode, undefined);
    await py.process.executeCommand(`touch ${gate}`);
    await follow; // resolves only when the server closes the stream after the command exited
    assert.equal(stdout, 'out-1\nout-2\nout-3\nout-4\nout-5\nout-6\n');
    assert.equal(stderr, 'err-1\nerr-2\nerr-3\nerr-4\nerr-5\nerr-6\n');
    const done = await py.process.getSessionCommand(sid, started.cmdId!);
    assert.equal(done.exitCode, 7);

    // Following a finished command replays everything and closes.
    let again = '';
    await py.process.getSessionCommandLogs(sid, started.cmdId!, (c) => (again += c), () => undefined);
    assert.equal(again, stdout);
    const plain = await py.process.getSessionCommandLogs(sid, started.cmdId!);
    assert.equal(plain.stdout, stdout);
    assert.equal(plain.stderr, stderr);
  });

  test('the deprecated async alias also runs in the background', async () => {
    const r = await py.process.executeSessionCommand(sid, { command: 'sleep 0.2; echo late', async: true });
    assert.ok(r.cmdId);
    let out = '';
    await py.process.getSessionCommandLogs(sid, r.cmdId!, (c) => (out += c), () => undefined);
    assert.equal(out, 'late\n');
    assert.equal((await py.process.getSessionCommand(sid, r.cmdId!)).exitCode, 0);
  });

  test('deleteSession removes it', async () => {
    await py.process.deleteSession(sid);
    assert.ok(!(await py.process.listSessions()).some((s) => s.sessionId === sid));
    await assert.rejects(py.process.getSession(sid), isNotFound);
  });

  test('unknown session or command ids are clear 404s and the daemon keeps serving', async () => {
    await assert.rejects(py.process.getSession('no-such-session'), isNotFound);
    await assert.rejects(py.process.executeSessionCommand('no-such-session', { command: 'echo hi' }), isNotFound);
    await assert.rejects(py.process.deleteSession('no-such-session'), isNotFound);
    await assert.rejects(py.process.getSessionCommandLogs('no-such-session', 'no-such-cmd'), isNotFound);
    assertClientError(await toolboxRaw(platform, py.id, 'GET', 'process/session/no-such-session'), 404, /no-such-session|not found/i);
    const other = `sess-other-${Date.now()}`;
    await py.process.createSession(other);
    await assert.rejects(py.process.getSessionCommand(other, 'no-such-cmd'), isNotFound);
    await assert.rejects(py.process.createSession(other), DaytonaError, 'a duplicate session id is refused');
    await py.process.deleteSession(other);
    await alive();
  });
});

describe('PTY', () => {
  const decoder = () => {
    const d = new TextDecoder();
    let text = '';
    return { onData: (b: Uint8Array) => void (text += d.decode(b, { stream: true })), text: () => text };
  };

  test('answers an interactive prompt, resizes, serves a second client, reports exit code 0', async () => {
    const id = `pty-${Date.now()}`;
    const out = decoder();
    const handle: PtyHandle = await py.process.createPty({
      id,
      cols: 120,
      rows: 30,
      envs: { PTY_MARK: 'mark value' },
      onData: out.onData,
    });
    await handle.waitForConnection();
    assert.equal(handle.isConnected(), true);

    await handle.sendInput('read -p "Your name? " NAME && echo "Hello, $NAME! $PTY_MARK"\n');
    await eventually(() => out.text().includes('Your name? '), 'the prompt');
    await handle.sendInput('Shoal\n');
    await eventually(() => out.text().includes('Hello, Shoal! mark value'), 'the answer to the prompt');

    const info = await py.process.getPtySessionInfo(id);
    assert.equal(info.id, id);
    assert.equal(info.cols, 120);
    assert.equal(info.rows, 30);
    assert.equal(info.active, true);
    assert.ok((await py.process.listPtySessions()).some((s) => s.id === id));

    const resized = await py.process.resizePtySession(id, 80, 25);
    assert.equal(resized.cols, 80);
    assert.equal(resized.rows, 25);
    await handle.sendInput('echo "size=$(stty size)"\n');
    await eventually(() => out.text().includes('size=25 80'), 'stty size after resize');
    const viaHandle = await handle.resize(100, 40);
    assert.equal(viaHandle.cols, 100);
    assert.equal(viaHandle.rows, 40);

    // A second client attached to the same PTY sees the same output.
    const second = decoder();
    const other = await py.process.connectPty(id, { onData: second.onData });
    await other.waitForConnection();
    await handle.sendInput('echo "both-$((6*7))"\n');
    await eventually(() => out.text().includes('both-42') && second.text().includes('both-42'), 'output on both clients');

    // disconnect() only closes that client; the session keeps running.
    await other.disconnect();
    await handle.sendInput('echo still-here\n');
    await eventually(() => out.text().includes('still-here'), 'output after the other client left');

    await handle.sendInput('exit\n');
    const result = await handle.wait();
    assert.equal(result.exitCode, 0);
    assert.equal(handle.exitCode, 0);
  });

  test('a killed PTY reports a non-zero exit code', async () => {
    const id = `pty-kill-${Date.now()}`;
    const out = decoder();
    const handle = await py.process.createPty({ id, onData: out.onData });
    await handle.waitForConnection();
    await handle.sendInput('echo loop-start; while true; do sleep 1; done\n');
    await eventually(() => out.text().includes('loop-start\r\n') || out.text().includes('loop-start\n'), 'the loop to start');
    await handle.kill();
    const result = await handle.wait();
    assert.ok(result.exitCode !== undefined && result.exitCode !== 0, `exit code after kill: ${result.exitCode}`);
    assert.ok(!(await py.process.listPtySessions()).some((s) => s.id === id && s.active), 'the killed PTY is not active');
  });

  test('killPtySession from the process API ends an attached handle', async () => {
    const id = `pty-kill2-${Date.now()}`;
    const handle = await py.process.createPty({ id, onData: () => undefined });
    await handle.waitForConnection();
    await py.process.killPtySession(id);
    const result = await handle.wait();
    assert.notEqual(result.exitCode, 0);
  });

  test('unknown PTY ids are clear 404s and the daemon keeps serving', async () => {
    await assert.rejects(py.process.getPtySessionInfo('no-such-pty'), isNotFound);
    await assert.rejects(py.process.resizePtySession('no-such-pty', 80, 24), isNotFound);
    await assert.rejects(py.process.killPtySession('no-such-pty'), isNotFound);
    assertClientError(await toolboxRaw(platform, py.id, 'GET', 'process/pty/no-such-pty'), 404);
    await assert.rejects(py.process.connectPty('no-such-pty', { onData: () => undefined }).then((h) => h.waitForConnection()));
    await alive();
  });
});

describe('process bad input', () => {
  const post = (path: string, body: unknown) =>
    toolboxRaw(platform, py.id, 'POST', path, {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  test('negative or non-numeric timeouts, missing or malformed commands are 400s', async () => {
    assertClientError(await post('process/execute', { command: 'echo hi', timeout: -1 }), 400);
    assertClientError(await post('process/execute', { command: 'echo hi', timeout: 'soon' }), 400);
    assertClientError(await post('process/execute', {}), 400);
    assertClientError(await post('process/execute', '{"command": "echo'), 400);
    await assert.rejects(py.process.executeCommand('echo hi', undefined, undefined, -5), DaytonaError);
    assertClientError(await post('process/execute', { command: 'pwd', cwd: '/no/such/dir' }));
    assertClientError(await post('process/session', {}), 400);
    assertClientError(await post('process/pty', { id: 'bad-size', cols: -3, rows: 0 }), 400);
    await alive();
  });
});
