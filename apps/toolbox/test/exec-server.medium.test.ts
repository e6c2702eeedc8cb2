// executeCommand through `shoal-exec --serve` (exec-server.ts): the real daemon with the real shoal-exec, driven over
// its socket and through the official SDK. Each command reports which process started it (its parent's command
// line), so every assertion below is known to have gone through the server, or through the fallback.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRequest, FrameReader } from '../src/process/exec-server.js';
import { useToolbox, type RunningToolbox } from './harness.js';

/** The command line of the process that started the command (NUL-separated, as /proc has it). */
const PARENT = 'cat /proc/$PPID/cmdline; echo';

async function parentOf(tb: RunningToolbox): Promise<string> {
  const res = await tb.http('POST', '/process/execute', { json: { command: `sh -c '${PARENT}'` } });
  assert.equal(res.status, 200);
  return res.json().result as string;
}

/** Executes until one goes through the server (started after the first execute, in the background). */
async function untilServed(tb: RunningToolbox): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if ((await parentOf(tb)).includes('--serve')) return;
    if (Date.now() > deadline) throw new Error(`the exec server never served; daemon log: ${tb.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function serverSocket(tb: RunningToolbox): string {
  const dir = readdirSync(tb.dir).find((d) => d.startsWith('shoal-toolbox-'));
  assert.ok(dir, 'the daemon has a runtime dir');
  return join(tb.dir, dir, 'exec.sock');
}

function serverPid(socket: string): number {
  return Number(execFileSync('pgrep', ['-o', '-f', `shoal-exec --serve ${socket}`], { encoding: 'utf8' }).trim());
}

/** Sends raw bytes to the server as any process of the sandbox user could, and reads what comes back. */
function raw(socket: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(socket, () => s.end(bytes));
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    // A relay that refuses a request leaves the rest unread: its close may reach us as a reset.
    s.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

describe('toolbox execute through the exec server', () => {
  const ctx = useToolbox();

  it('the first command is spawned by the daemon, later ones by the server', async () => {
    assert.match(await parentOf(ctx.tb), /--capture/);
    await untilServed(ctx.tb);
  });

  it('answers as the daemon does: output order, exit codes, death by signal, cwd, env and the SDK script on stdin', async () => {
    await untilServed(ctx.tb);
    const order = await ctx.tb.http('POST', '/process/execute', { json: { command: `sh -c "echo one; echo two >&2; echo three; ${PARENT} >&2; exit 3"` } });
    assert.equal(order.json().exitCode, 3);
    assert.match(order.json().result, /^one\ntwo\nthree\n.*--serve/);
    const killed = await ctx.tb.http('POST', '/process/execute', { json: { command: `sh -c "echo dying; kill -9 $$"` } });
    assert.deepEqual(killed.json(), { exitCode: 137, result: 'dying\n' });
    mkdirSync(join(ctx.tb.workdir, 'sub'), { recursive: true });
    const r = await ctx.api.sandbox.process.executeCommand(`pwd; printf '%s|' "$WEIRD"; ${PARENT}`, 'sub', { WEIRD: `a "b" $c` });
    assert.equal(r.exitCode, 0);
    assert.match(r.result, new RegExp(`^${join(ctx.tb.workdir, 'sub')}\\na "b" \\$c\\|.*--serve`));
  });

  it('feeds a script larger than a pipe holds, while the command writes more than a pipe holds', async () => {
    await untilServed(ctx.tb);
    // 3 MiB of script (a comment line) and 2 MB of output written before the script is read to its end.
    const script = `head -c 2000000 /dev/zero | tr '\\0' x; echo\n#${'c'.repeat(3 << 20)}\necho end; ${PARENT}\n`;
    const res = await ctx.tb.http('POST', '/process/execute', {
      json: { command: `sh -c "echo '${Buffer.from(script).toString('base64')}' | base64 -d | sh"` },
    });
    const out = res.json().result as string;
    assert.equal(res.json().exitCode, 0);
    assert.equal(out.indexOf('\n'), 2_000_000);
    assert.match(out.slice(2_000_001), /^end\n.*--serve/);
  });

  it('gives the command no descriptor but its stdin, stdout and stderr', async () => {
    await untilServed(ctx.tb);
    const res = await ctx.tb.http('POST', '/process/execute', { json: { command: `sh -c "ls /proc/self/fd; ${PARENT}"` } });
    const [fds, parent] = (res.json().result as string).trim().split('\n').reduce<[string[], string]>(
      ([list, p], line) => (/^\d+$/.test(line) ? [[...list, line], p] : [list, line]),
      [[], ''],
    );
    assert.match(parent, /--serve/);
    // 0-2 and the one ls opened to read the directory.
    assert.deepEqual(fds, ['0', '1', '2', '3']);
  });

  it('times out with 408 and kills the whole process group', async () => {
    await untilServed(ctx.tb);
    const marker = `sleep 31.${process.pid}`;
    const res = await ctx.tb.http('POST', '/process/execute', { json: { command: `sh -c "${marker} & ${marker}"`, timeout: 1 } });
    assert.equal(res.status, 408);
    assert.throws(() => execFileSync('pgrep', ['-f', marker]), 'no sleep of the timed-out command is left');
  });

  it('refuses a command line too long for the kernel with 400, as before', async () => {
    await untilServed(ctx.tb);
    const res = await ctx.tb.http('POST', '/process/execute', { json: { command: `echo ${'y'.repeat(300_000)}` } });
    assert.equal(res.status, 400);
    assert.match(res.json().message, /too long/);
  });

  it('survives garbage on its socket and keeps serving', async () => {
    await untilServed(ctx.tb);
    const socket = serverSocket(ctx.tb);
    const pid = serverPid(socket);
    const MAGIC = 0x31515853;
    const request = (payload: string, argc: number, opts: { magic?: number; len?: number; envc?: number } = {}) => {
      const b = Buffer.alloc(20);
      const body = Buffer.from(payload, 'latin1');
      b.writeUInt32LE(opts.magic ?? MAGIC, 0);
      b.writeUInt32LE(opts.len ?? body.length, 4);
      b.writeUInt32LE(argc, 8);
      b.writeUInt32LE(opts.envc ?? 0, 12);
      return Buffer.concat([b, body]);
    };
    const bad = [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      request('/\0/bin/true\0true\0', 1, { magic: 0x12345678 }),
      request('', 1, { len: 0xffffffff }),
      request('abcd', 1000, { envc: 1000 }),
      request('a\0b\0c\0', 3), // fewer strings than announced
      request('/\0/bin/true\0true\0', 1, { envc: 2 }), // no room for the environment
      request('/\0/bin/true\0', 1, { len: 40 }), // payload shorter than announced
      request('/no/such/dir\0/bin/true\0true\0', 1),
    ];
    for (const bytes of bad) {
      const answer = await raw(socket, bytes);
      // An error frame (E, 4 bytes), or nothing at all for a request that never arrived whole.
      assert.ok(answer.length === 0 || answer[0] === 0x45, `answered ${JSON.stringify(answer.toString('latin1'))}`);
    }
    assert.equal(serverPid(socket), pid, 'the same server still runs');
    assert.match(await parentOf(ctx.tb), /--serve/);
  });

  it("a spare's command that comes before the spare has exec'd waits for it, and runs", async () => {
    await untilServed(ctx.tb);
    const socket = serverSocket(ctx.tb);
    const sh = realpathSync('/bin/sh');
    const spare = encodeRequest({ file: sh, argv: ['sh'], cwd: ctx.tb.workdir, env: { PATH: '/usr/bin:/bin' } }, true)!;
    const script = Buffer.from('echo hi');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(script.length, 0);
    // The spare's request and its stdin in one write: the relay has the command before its child can have exec'd,
    // when /proc/PID/exe still names shoal-exec. That once read as "the program was replaced": the command never ran.
    for (let i = 0; i < 20; i++) {
      const frames: [string, Buffer][] = [];
      const reader = new FrameReader((type, data) => frames.push([type, data]));
      reader.push(await raw(socket, Buffer.concat([spare, len, script])));
      assert.deepEqual(
        frames.filter(([t]) => t !== 'P').map(([t, d]) => [t, t === 'X' ? d.readInt32LE(0) : d.toString()]),
        [['O', 'hi\n'], ['X', 0]],
        `attempt ${i}: ${JSON.stringify(frames.map(([t]) => t))}`,
      );
    }
  });

  it('when the server dies, commands are spawned by the daemon again and still answer', async () => {
    await untilServed(ctx.tb);
    process.kill(serverPid(serverSocket(ctx.tb)), 'SIGKILL');
    const deadline = Date.now() + 10_000;
    let parent = '';
    while (!(parent = await parentOf(ctx.tb)).includes('--capture') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(parent, /--capture/);
    const r = await ctx.api.sandbox.process.executeCommand('echo still here');
    assert.deepEqual([r.exitCode, r.result], [0, 'still here\n']);
    assert.match(ctx.tb.stderr(), /exec server (exited|unreachable)/);
  });
});

/** Spares: the process of the next command of the SDK's shape, started by the server after the previous one. */
describe('toolbox execute through a spare', () => {
  // The daemon finds `sh` in a directory of this test's own first on PATH, so that the test can replace it.
  const bin = mkdtempSync(join(tmpdir(), 'shoal-spare-bin-'));
  copyFileSync(realpathSync('/bin/sh'), join(bin, 'sh'));
  const ctx = useToolbox({ env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
  after(() => rmSync(bin, { recursive: true, force: true }));

  /** The spares waiting now: `sh` processes whose parent is a relay of this daemon's server, still without stdin. */
  function spares(): number[] {
    const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/)!)
      .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
    const server = serverPid(serverSocket(ctx.tb));
    const relays = new Set(rows.filter((r) => r.ppid === server).map((r) => r.pid));
    return rows.filter((r) => relays.has(r.ppid) && r.args === 'sh').map((r) => r.pid);
  }

  /** Runs SDK commands until one went through the server, then waits for the one spare it leaves. */
  async function oneSpare(): Promise<number> {
    await untilServed(ctx.tb);
    await ctx.api.sandbox.process.executeCommand('true');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = spares();
      if (now.length === 1) return now[0]!;
      if (Date.now() > deadline) throw new Error(`spares: ${JSON.stringify(now)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('runs the next SDK command in a shell started before it came, and leaves one spare, not more', async () => {
    const spare = await oneSpare();
    await new Promise((r) => setTimeout(r, 1_200));
    const r = await ctx.api.sandbox.process.executeCommand(`echo "$$ $(ps -o etimes= -p $$)"; ${PARENT}`);
    assert.equal(r.exitCode, 0);
    const [line, parent] = r.result.split('\n');
    const [pid, age] = line!.trim().split(/\s+/).map(Number);
    assert.equal(pid, spare, 'the command ran in the spare');
    assert.ok(age! >= 1, `the shell was started before the command came (${age} s old)`);
    assert.match(parent!, /--serve/);
    for (let i = 0; i < 5; i++) assert.equal((await ctx.api.sandbox.process.executeCommand(`echo ${i}`)).result, `${i}\n`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(spares().length, 1);
  });

  it('a spare killed from inside the sandbox is not used: the command runs once, anew, with its own status', async () => {
    const spare = await oneSpare();
    process.kill(spare, 'SIGKILL');
    const log = join(ctx.tb.workdir, 'ran-once');
    const r = await ctx.api.sandbox.process.executeCommand(`echo ran >> ${log}; echo out; exit 3`);
    assert.deepEqual([r.exitCode, r.result], [3, 'out\n']);
    assert.equal(readFileSync(log, 'utf8'), 'ran\n');
  });

  it('a spare whose directory was removed and made again is not used: the command sees the new directory', async () => {
    await oneSpare();
    rmSync(ctx.tb.workdir, { recursive: true });
    mkdirSync(ctx.tb.workdir);
    writeFileSync(join(ctx.tb.workdir, 'made-again'), '');
    const r = await ctx.api.sandbox.process.executeCommand('ls; touch here && echo wrote');
    assert.deepEqual([r.exitCode, r.result], [0, 'made-again\nwrote\n']);
  });

  it('takes the environment the runner merged after the spare started', async () => {
    await oneSpare();
    const merged = await ctx.tb.http('POST', '/.shoal/env', { json: { env: { SPARE_LATE: 'merged' } } });
    assert.equal(merged.status, 200);
    const r = await ctx.api.sandbox.process.executeCommand('echo "$SPARE_LATE"');
    assert.deepEqual([r.exitCode, r.result], [0, 'merged\n']);
  });

  it('a merged environment replaces the spare at once: the next command runs in a spare that has the new variables', async () => {
    const old = await oneSpare();
    const merged = await ctx.tb.http('POST', '/.shoal/env', { json: { env: { SPARE_RENEWED: 'yes' } } });
    assert.equal(merged.status, 200);
    const deadline = Date.now() + 10_000;
    let renewed: number[] = [];
    while (Date.now() < deadline && !((renewed = spares()).length === 1 && renewed[0] !== old)) await new Promise((r) => setTimeout(r, 50));
    assert.equal(renewed.length, 1, `one spare after the merge: ${JSON.stringify(renewed)}`);
    assert.notEqual(renewed[0], old, 'the spare started before the merge was replaced');
    const r = await ctx.api.sandbox.process.executeCommand('echo "$$ $SPARE_RENEWED"');
    assert.deepEqual([r.exitCode, r.result], [0, `${renewed[0]} yes\n`], 'the command ran in the new spare, with the merged variable');
  });

  it('a spare of a program replaced since is not used: the command runs the new one', async () => {
    await oneSpare();
    // bash in place of dash, as a package upgrade replaces a file: a new inode renamed over the old name.
    const next = join(bin, 'sh.next');
    copyFileSync(realpathSync('/bin/bash'), next);
    renameSync(next, join(bin, 'sh'));
    const r = await ctx.api.sandbox.process.executeCommand('echo "after ${BASH_VERSION:+in bash}"');
    assert.deepEqual([r.exitCode, r.result], [0, 'after in bash\n']);
  });

  it('a stopped daemon leaves no spare behind', async () => {
    const spare = await oneSpare();
    await ctx.tb.stop();
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && existsSync(`/proc/${spare}`)) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!existsSync(`/proc/${spare}`), 'the spare is gone with the daemon');
  });
});
