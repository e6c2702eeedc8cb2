import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { collect, useToolbox } from './harness.js';

const OUT = '\x01\x01\x01';
const ERR = '\x02\x02\x02';

describe('toolbox process: execute', () => {
  const ctx = useToolbox();

  it('runs in the working directory and returns {exitCode, result} with stdout and stderr in order', async () => {
    const res = await ctx.tb.http('POST', '/process/execute', {
      json: { command: `sh -c "echo one; echo two >&2; echo three; pwd; exit 3"` },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { exitCode: 3, result: `one\ntwo\nthree\n${ctx.tb.workdir}\n` });
  });

  it('keeps env values with spaces and quotes intact through the SDK wrapping', async () => {
    const value = `a b  "c" 'd' $HOME \\ e`;
    const r = await ctx.api.sandbox.process.executeCommand('printf "%s|%s" "$WEIRD" "$OTHER"', undefined, {
      WEIRD: value,
      OTHER: 'x y',
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.result, `${value}|x y`);
  });

  it("answers the SDK's wrapped commands exactly as the shell pipeline would (decoded by the toolbox)", async () => {
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    const wrapped = (command: string, env: Record<string, string>, inner: string) => {
      const prefix = Object.entries(env).map(([k, v]) => `export ${k}=$(echo '${b64(v)}' | base64 -d)`).join(';');
      return `sh -c "${prefix ? `${prefix}; ` : ''}echo '${b64(command)}' | base64 -d | ${inner}"`;
    };
    const cases: Array<[string, Record<string, string>]> = [
      ['echo hi', {}],
      ['echo out; echo err >&2; exit 7', {}],
      ['printf "[%s][%s]" "$A" "$B"', { A: 'trailing\n\n', B: ' spaced  "q" ' }],
      ['cat; echo "[$0]"; read x; echo "[$x]"', {}],
      ['set -e\nfalse\necho never', {}],
      ['echo a; if', {}],
      ['echo ✓ 日本 "$HOME"', {}],
      ['no-such-command-here', {}],
      // No process shows the script in its argv (pgrep -f in a script must not find the shell running it).
      [": marker-4f1c; cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -c '[m]arker-4f1c'", {}],
    ];
    for (const [command, env] of cases) {
      // `sh -s` reads the script from stdin like `sh`; the toolbox only decodes the exact SDK shape.
      const piped = await ctx.tb.http('POST', '/process/execute', { json: { command: wrapped(command, env, 'sh -s') } });
      const decoded = await ctx.tb.http('POST', '/process/execute', { json: { command: wrapped(command, env, 'sh') } });
      assert.equal(decoded.status, 200);
      assert.deepEqual(decoded.json(), piped.json(), command);
    }
  });

  it('uses cwd when given, relative to the working directory', async () => {
    mkdirSync(join(ctx.tb.workdir, 'rel/dir'), { recursive: true });
    const r = await ctx.api.sandbox.process.executeCommand('pwd', 'rel/dir');
    assert.equal(r.result.trim(), join(ctx.tb.workdir, 'rel/dir'));
    const missing = await ctx.tb.http('POST', '/process/execute', { json: { command: 'pwd', cwd: 'no/such/dir' } });
    assert.equal(missing.status, 404);
  });

  it('returns 408 on timeout and kills the whole process group', async () => {
    const res = await ctx.tb.http('POST', '/process/execute', { json: { command: 'sh -c "sleep 30 & sleep 30"', timeout: 1 } });
    assert.equal(res.status, 408);
    assert.equal(res.json().message, 'command execution timeout');
    await assert.rejects(ctx.api.sandbox.process.executeCommand('sleep 5', undefined, undefined, 1), /command execution timeout/);
  });

  it('rejects a negative timeout and an empty command with 400', async () => {
    const negative = await ctx.tb.http('POST', '/process/execute', { json: { command: 'echo hi', timeout: -1 } });
    assert.equal(negative.status, 400);
    assert.match(negative.json().message, /timeout/);
    assert.equal((await ctx.tb.http('POST', '/process/execute', { json: { command: '   ' } })).status, 400);
    assert.equal((await ctx.tb.http('POST', '/process/execute', { json: {} })).status, 400);
  });

  it('rejects a command line longer than the kernel accepts with 400', async () => {
    const res = await ctx.tb.http('POST', '/process/execute', { json: { command: `echo ${'y'.repeat(300_000)}` } });
    assert.equal(res.status, 400);
    assert.match(res.json().message, /too long/);
  });

  it('reports a missing executable as exit code -1 instead of failing the request', async () => {
    const res = await ctx.tb.http('POST', '/process/execute', { json: { command: 'definitely-not-a-command-xyz' } });
    assert.equal(res.status, 200);
    assert.equal(res.json().exitCode, -1);
  });

  it('passes long outputs and long artifact lines through intact', async () => {
    const big = await ctx.api.sandbox.process.executeCommand('head -c 3000000 /dev/zero | tr "\\0" "a"');
    assert.equal(big.result.length, 3_000_000);
    const payload = 'x'.repeat(500_000);
    // The artifact line is produced inside the sandbox (as matplotlib's wrapper does), not passed in argv.
    const r = await ctx.api.sandbox.process.executeCommand(
      `printf 'dtn_artifact_k39fd2:{"type":"chart","value":{"type":"line","title":"t","elements":[],"png":"'; ` +
        `head -c 500000 /dev/zero | tr '\\0' x; printf '"}}\\n'; echo after`,
    );
    assert.equal(r.result.trim(), 'after');
    assert.equal(r.artifacts?.charts?.[0]?.png, payload);
  });
});

describe('toolbox process: sessions', () => {
  const ctx = useToolbox();

  it('keeps cd and export between commands and demuxes stdout from stderr', async () => {
    const p = ctx.api.sandbox.process;
    await p.createSession('s1');
    mkdirSync(join(ctx.tb.workdir, 'inside'));
    const cd = await p.executeSessionCommand('s1', { command: 'cd inside && export FOO="bar baz"' });
    assert.equal(cd.exitCode, 0);
    const r = await p.executeSessionCommand('s1', { command: 'echo "$FOO"; pwd; echo oops >&2; false' });
    assert.equal(r.exitCode, 1);
    assert.equal(r.stdout, `bar baz\n${join(ctx.tb.workdir, 'inside')}\n`);
    assert.equal(r.stderr, 'oops\n');
    assert.equal(r.output, `${OUT}bar baz\n${OUT}${join(ctx.tb.workdir, 'inside')}\n${ERR}oops\n`);

    const session = await p.getSession('s1');
    assert.equal(session.sessionId, 's1');
    assert.deepEqual(
      session.commands?.map((c) => c.exitCode),
      [0, 1],
    );
    const cmd = await p.getSessionCommand('s1', r.cmdId as string);
    assert.deepEqual(cmd, { id: r.cmdId, command: 'echo "$FOO"; pwd; echo oops >&2; false', exitCode: 1 });
    const logs = await p.getSessionCommandLogs('s1', r.cmdId as string);
    assert.equal(logs.stdout, `bar baz\n${join(ctx.tb.workdir, 'inside')}\n`);
    assert.equal(logs.stderr, 'oops\n');
    assert.deepEqual((await p.listSessions()).map((s) => s.sessionId), ['s1']);
  });

  it('survives a command with a syntax error and one that reads stdin', async () => {
    const p = ctx.api.sandbox.process;
    await p.createSession('s2');
    const bad = await p.executeSessionCommand('s2', { command: 'echo "unterminated' });
    assert.notEqual(bad.exitCode, 0);
    const read = await p.executeSessionCommand('s2', { command: 'read x; echo "got[$x]"' });
    assert.equal(read.stdout, 'got[]\n');
    const ok = await p.executeSessionCommand('s2', { command: 'echo fine' });
    assert.equal(ok.stdout, 'fine\n');
  });

  it('runs async commands: 202, exitCode absent while running, logs streamed in order over the follow WebSocket', async () => {
    const p = ctx.api.sandbox.process;
    await p.createSession('s3');
    const res = await ctx.tb.http('POST', '/process/session/s3/exec', {
      json: { command: 'for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done', runAsync: true },
    });
    assert.equal(res.status, 202);
    const { cmdId } = res.json();
    const running = await p.getSessionCommand('s3', cmdId);
    assert.equal('exitCode' in running, false);

    const events: string[] = [];
    await p.getSessionCommandLogs(
      's3',
      cmdId,
      (chunk) => events.push(`out:${chunk}`),
      (chunk) => events.push(`err:${chunk}`),
    );
    const stdout = events.filter((e) => e.startsWith('out:')).map((e) => e.slice(4)).join('');
    const stderr = events.filter((e) => e.startsWith('err:')).map((e) => e.slice(4)).join('');
    assert.equal(stdout, 'out1\nout2\nout3\n');
    assert.equal(stderr, 'err1\nerr2\nerr3\n');
    assert.equal((await p.getSessionCommand('s3', cmdId)).exitCode, 0);

    // Following a finished command replays everything and closes normally.
    const ws = ctx.tb.ws(`/process/session/s3/command/${cmdId}/logs?follow=true`);
    const done = await collect(ws);
    assert.equal(done.code, 1000);
    const text = Buffer.concat(done.messages.map((m) => m.data)).toString();
    assert.equal(text.replaceAll(ERR, '').replaceAll(OUT, '|'), '|out1\nerr1\n|out2\nerr2\n|out3\nerr3\n');
  });

  it('supports the deprecated async alias and plain-HTTP follow', async () => {
    await ctx.api.sandbox.process.createSession('s4');
    const res = await ctx.tb.http('POST', '/process/session/s4/exec', { json: { command: 'echo a; sleep 0.3; echo b', async: true } });
    assert.equal(res.status, 202);
    const follow = await ctx.tb.http('GET', `/process/session/s4/command/${res.json().cmdId}/logs?follow=true`);
    assert.equal(follow.text, `${OUT}a\n${OUT}b\n`);
  });

  it('strips markers for SDKs older than 0.27.0', async () => {
    await ctx.api.sandbox.process.createSession('s5');
    const res = await ctx.tb.http('POST', '/process/session/s5/exec', {
      json: { command: 'echo plain' },
      headers: { 'X-Daytona-SDK-Version': '0.26.0' },
    });
    assert.equal(res.json().output, 'plain\n');
  });

  it('answers 404 for unknown sessions and commands, 409 for duplicates, and deletes sessions', async () => {
    const p = ctx.api.sandbox.process;
    await assert.rejects(p.getSession('nope'), (err: Error) => err.constructor.name === 'DaytonaNotFoundError');
    assert.equal((await ctx.tb.http('POST', '/process/session/nope/exec', { json: { command: 'true' } })).status, 404);
    assert.equal((await ctx.tb.http('GET', '/process/session/s1/command/nope')).status, 404);
    assert.equal((await ctx.tb.http('POST', '/process/session', { json: { sessionId: 's1' } })).status, 409);
    assert.equal((await ctx.tb.http('POST', '/process/session', { json: {} })).status, 400);
    const ws = ctx.tb.ws('/process/session/nope/command/x/logs?follow=true');
    const failure = await new Promise<Error>((resolve) => ws.on('error', resolve));
    assert.match(failure.message, /404/);

    await p.createSession('gone');
    const run = await ctx.tb.http('POST', '/process/session/gone/exec', { json: { command: 'sleep 30', runAsync: true } });
    const ws2 = ctx.tb.ws(`/process/session/gone/command/${run.json().cmdId}/logs?follow=true`);
    const follower = collect(ws2);
    await new Promise((resolve) => ws2.once('open', resolve));
    await p.deleteSession('gone');
    assert.equal((await follower).code, 1000);
    assert.equal((await ctx.tb.http('GET', '/process/session/gone')).status, 404);
  });
});
