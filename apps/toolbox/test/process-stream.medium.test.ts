import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import { StreamChannel, type ProcessStreamStart } from '@shoal/contracts';
import { collect, useToolbox } from './harness.js';

/** Opens the SSH gateway's stream, sends the start message (and optional stdin), and returns everything until close. */
async function stream(ws: WebSocket, start: ProcessStreamStart, stdin?: Buffer) {
  const done = collect(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify(start));
  if (stdin) {
    ws.send(Buffer.concat([Buffer.of(StreamChannel.stdin), stdin]), { binary: true });
    ws.send(JSON.stringify({ type: 'eof' }));
  }
  const all = await done;
  const out = (channel: number) => Buffer.concat(all.messages.filter((m) => m.binary && m.data[0] === channel).map((m) => m.data.subarray(1)));
  const controls = all.messages.filter((m) => !m.binary).map((m) => JSON.parse(m.data.toString()) as { type: string; exitCode?: number; message?: string });
  return { stdout: out(StreamChannel.stdout), stderr: out(StreamChannel.stderr), controls, code: all.code };
}

describe('toolbox streaming process (the SSH gateway transport)', () => {
  const ctx = useToolbox();

  it('exec: stdout and stderr apart, stdin through to EOF, the exit status last', async () => {
    const r = await stream(ctx.tb.ws('/process/stream'), { type: 'start', mode: 'exec', command: 'echo out; echo err >&2; wc -c; exit 3' }, Buffer.alloc(300_000, 7));
    assert.equal(r.stdout.toString(), 'out\n300000\n');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.deepEqual(r.controls.at(-1), { type: 'exit', exitCode: 3 });
    assert.equal(r.code, 1000);
  });

  it('a PTY: the shell sees a terminal of the requested size and follows a resize; only TERM/LANG/LC_* env pass', async () => {
    const ws = ctx.tb.ws('/process/stream');
    const done = stream(ws, {
      type: 'start',
      mode: 'exec',
      command: 'stty size; read line; stty size; echo "term=$TERM evil=${EVIL:-unset} lang=$LANG"',
      pty: { term: 'xterm-test', cols: 91, rows: 17 },
      env: { LANG: 'C.UTF-8', EVIL: 'x', LD_PRELOAD: '/tmp/x.so' },
    });
    await new Promise((r) => setTimeout(r, 500));
    ws.send(JSON.stringify({ type: 'resize', cols: 120, rows: 40 }));
    await new Promise((r) => setTimeout(r, 200));
    ws.send(Buffer.concat([Buffer.of(StreamChannel.stdin), Buffer.from('go\r')]), { binary: true });
    const r = await done;
    const text = r.stdout.toString();
    assert.match(text, /17 91/);
    assert.match(text, /40 120/);
    assert.match(text, /term=xterm-test evil=unset lang=C\.UTF-8/);
    assert.deepEqual(r.controls.at(-1), { type: 'exit', exitCode: 0 });
  });

  it('a bad start message is refused and runs nothing', async () => {
    const r = await stream(ctx.tb.ws('/process/stream'), { type: 'start', mode: 'bogus' } as unknown as ProcessStreamStart);
    assert.equal(r.code, 1008);
    assert.match(r.controls[0]?.message ?? '', /start/);
    const big = await stream(ctx.tb.ws('/process/stream'), { type: 'start', mode: 'shell', pty: { term: 'xterm', cols: 100_000, rows: 5 } });
    assert.equal(big.code, 1008);
  });
});
