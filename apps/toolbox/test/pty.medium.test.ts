import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, useToolbox } from './harness.js';

async function waitFor(check: () => boolean, what: string, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('toolbox PTY', () => {
  const ctx = useToolbox();

  it('answers an interactive prompt, resizes, and reports exit code 0 (SDK PtyHandle)', async () => {
    let output = '';
    const handle = await ctx.api.sandbox.process.createPty({
      id: 'interactive',
      cols: 120,
      rows: 30,
      onData: (data) => {
        output += Buffer.from(data).toString();
      },
    });
    const info = await ctx.api.sandbox.process.getPtySessionInfo('interactive');
    assert.equal(info.active, true);
    assert.equal(info.lazyStart, true);
    assert.equal(info.cwd, ctx.tb.workdir);
    await handle.sendInput('printf "size=%s\\n" "$(stty size)"\n');
    await waitFor(() => output.includes('size=30 120'), 'stty size');
    await handle.sendInput('read -p "Your name: " name && echo "Hello, $name!"\n');
    await waitFor(() => output.includes('Your name: '), 'the prompt');
    await handle.sendInput('Shoal\n');
    await waitFor(() => output.includes('Hello, Shoal!'), 'the greeting');
    const resized = await ctx.api.sandbox.process.resizePtySession('interactive', 80, 25);
    assert.equal(resized.cols, 80);
    assert.equal(resized.rows, 25);
    await handle.sendInput('exit\n');
    const result = await handle.wait();
    assert.equal(result.exitCode, 0);
    assert.equal(result.error, undefined);
    const resizeAfterExit = await ctx.tb.http('POST', '/process/pty/interactive/resize', { json: { cols: 10, rows: 10 } });
    assert.equal(resizeAfterExit.status, 410);
  });

  it('reports a non-zero exit code and SIGKILL when killed, to every attached client', async () => {
    const handle = await ctx.api.sandbox.process.createPty({ id: 'victim', onData: () => undefined });
    const second = ctx.tb.ws('/process/pty/victim/connect');
    const secondDone = collect(second);
    await new Promise((resolve) => second.once('message', resolve));
    await handle.sendInput('while true; do sleep 1; done\n');
    const listed = await ctx.api.sandbox.process.listPtySessions();
    assert.ok(listed.some((s) => s.id === 'victim'));
    await handle.kill();
    const result = await handle.wait();
    assert.equal(result.exitCode, 137);
    assert.equal(result.error, 'SIGKILL');
    const other = await secondDone;
    assert.equal(other.code, 1011);
    assert.deepEqual(JSON.parse(other.reason), { exitCode: 137, exitReason: 'SIGKILL' });
    assert.equal(other.messages[0]?.binary, false);
    assert.deepEqual(JSON.parse(other.messages[0]?.data.toString() ?? ''), { type: 'control', status: 'connected' });
    assert.equal((await ctx.tb.http('GET', '/process/pty/victim')).status, 404);
  });

  it('sends the control frame first, output as binary frames, and closes with 1000 + {"exitCode":0}', async () => {
    const created = await ctx.tb.http('POST', '/process/pty', { json: { id: 'raw', lazyStart: true, envs: { GREETING: 'hi there' } } });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json(), { sessionId: 'raw' });
    assert.equal((await ctx.tb.http('POST', '/process/pty', { json: { id: 'raw' } })).status, 409);
    const ws = ctx.tb.ws('/process/pty/raw/connect');
    const done = collect(ws);
    await new Promise((resolve) => ws.once('message', resolve));
    ws.send(Buffer.from('echo "[$GREETING]"; exit 0\n'));
    const { messages, code, reason } = await done;
    assert.equal(messages[0]?.binary, false);
    assert.ok(messages.slice(1).every((m) => m.binary));
    assert.match(Buffer.concat(messages.slice(1).map((m) => m.data)).toString(), /\[hi there\]/);
    assert.equal(code, 1000);
    assert.deepEqual(JSON.parse(reason), { exitCode: 0 });
  });

  it('rejects bad input: unknown ids, out-of-range sizes, missing id', async () => {
    assert.equal((await ctx.tb.http('GET', '/process/pty/nope')).status, 404);
    assert.equal((await ctx.tb.http('DELETE', '/process/pty/nope')).status, 404);
    assert.equal((await ctx.tb.http('POST', '/process/pty/nope/resize', { json: { cols: 10, rows: 10 } })).status, 404);
    assert.equal((await ctx.tb.http('POST', '/process/pty', { json: { id: 'big', cols: 5000 } })).status, 400);
    assert.equal((await ctx.tb.http('POST', '/process/pty', { json: { cols: 80 } })).status, 400);
    assert.equal((await ctx.tb.http('POST', '/process/pty', { json: { id: 'badcwd', cwd: 'no/such' } })).status, 404);
    await assert.rejects(ctx.api.sandbox.process.connectPty('nope', { onData: () => undefined }));
    assert.equal((await ctx.tb.http('GET', '/version')).status, 200);
  });
});
