import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, copyFileSync, existsSync, linkSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect, startToolbox, type RunningToolbox } from './harness.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Built by scripts/bootstrap.mjs (npm test) from apps/runner/native/shoal-exec.c. */
const execHelper = join(appRoot, '../runner/native/dist/shoal-exec');

/** The artifact the runner mounts: dist/ alone must run the daemon, native PTY addon included. */
describe('toolbox bundle (dist/toolbox.cjs)', () => {
  let tb: RunningToolbox;
  before(async () => {
    execFileSync(process.execPath, [join(appRoot, 'scripts/build.mjs')], { stdio: 'ignore' });
    assert.ok(existsSync(join(appRoot, 'dist/pty.node')));
    tb = await startToolbox({ entry: [join(appRoot, 'dist/toolbox.cjs')] });
  });
  after(async () => {
    await tb.stop();
  });

  it('serves /version, hides SHOAL_* from children, and runs a PTY from the bundled addon', async () => {
    assert.deepEqual((await tb.http('GET', '/version')).json(), { version: '0.1.0' });
    const env = await tb.http('POST', '/process/execute', { json: { command: 'sh -c "env | grep -c ^SHOAL_ || true"' } });
    assert.equal(env.json().result.trim(), '0');
    const home = await tb.http('POST', '/process/execute', { json: { command: 'sh -c "echo $HOME:$USER"' } });
    assert.match(home.json().result, /^\/.*:.+\n$/);
    assert.equal((await tb.http('POST', '/process/pty', { json: { id: 'b', lazyStart: true } })).status, 201);
    const ws = tb.ws('/process/pty/b/connect');
    const done = collect(ws);
    await new Promise((resolve) => ws.once('message', resolve));
    ws.send(Buffer.from('exit 0\n'));
    const { code, reason } = await done;
    assert.equal(code, 1000);
    assert.deepEqual(JSON.parse(reason), { exitCode: 0 });
  });

  it('starts from the code cache the build made for this very bundle', () => {
    assert.ok(existsSync(join(appRoot, 'dist/toolbox-main.cache')), 'the build wrote a code cache');
    assert.doesNotMatch(tb.stderr(), /code cache not used/);
    // Stored in its module wrapper, so the loader compiles the file's own text and holds no second copy of it.
    const wrapper = (Module as unknown as { wrapper: [string, string] }).wrapper;
    const bundle = readFileSync(join(appRoot, 'dist/toolbox-main.cjs'), 'utf8');
    assert.ok(bundle.startsWith(wrapper[0]) && bundle.trimEnd().endsWith(wrapper[1]), 'dist/toolbox-main.cjs is written wrapped');
  });

  it("runs on 6 threads with the runner's --v8-pool-size=1, and user commands see only the user's UV_THREADPOOL_SIZE", async () => {
    const threads = (pid: number) => Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const echo = { json: { command: 'sh -c "echo pool=${UV_THREADPOOL_SIZE-unset}"' } };
    assert.equal((await tb.http('POST', '/process/execute', echo)).json().result, 'pool=unset\n');
    for (const userValue of [undefined, '7']) {
      const own = await startToolbox({
        entry: ['--v8-pool-size=1', join(appRoot, 'dist/toolbox.cjs')],
        ...(userValue ? { env: { UV_THREADPOOL_SIZE: userValue } } : {}),
      });
      try {
        // File work runs on libuv's pool: its threads exist once this answers.
        assert.equal((await own.http('GET', `/files/info?path=${encodeURIComponent(own.workdir)}`)).status, 200);
        assert.equal((await own.http('POST', '/process/execute', echo)).json().result, `pool=${userValue ?? 'unset'}\n`);
        // main, one V8 worker, V8's delayed-task runner, the signal watcher and a libuv pool of 2 (a user's 7 is theirs).
        assert.equal(threads(own.child.pid!), 6);
      } finally {
        await own.stop();
      }
    }
  });

  it('ignores a code cache made for another bundle or none at all, and still serves', async () => {
    // A copy of dist/ whose cache names another bundle's hash (same length: V8 alone would have taken it).
    const copy = mkdtempSync(join(tmpdir(), 'toolbox-cache-'));
    try {
      for (const f of ['toolbox.cjs', 'toolbox-main.cjs', 'pty.node']) copyFileSync(join(appRoot, 'dist', f), join(copy, f));
      const blob = readFileSync(join(appRoot, 'dist/toolbox-main.cache'));
      blob[0] = blob[0]! ^ 0xff;
      writeFileSync(join(copy, 'toolbox-main.cache'), blob);
      for (const [why, prepare] of [
        [/made for another bundle/, () => undefined],
        [/none beside the bundle/, () => rmSync(join(copy, 'toolbox-main.cache'))],
      ] as const) {
        prepare();
        const other = await startToolbox({ entry: [join(copy, 'toolbox.cjs')] });
        try {
          assert.equal((await other.http('POST', '/process/execute', { json: { command: 'echo cached' } })).json().result, 'cached\n');
          assert.match(other.stderr(), why);
        } finally {
          await other.stop();
        }
      }
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  /** Starts dist/toolbox.cjs the way the runner does: a listening socket inherited as fd 3. */
  async function onInheritedSocket(env: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'toolbox-fd-'));
    const path = join(dir, 'runner.sock');
    const listener = createNetServer();
    listener.listen(path);
    await once(listener, 'listening');
    // The runner hands the daemon a listening socket as fd 3; here the test's own listener plays that part.
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    // A descriptor the daemon inherits and that Node does not mark close-on-exec at startup (Node 20 marks only
    // low numbers; fd 3, the listening socket, is among them), as anything its parents left open would be.
    const marker = openSync(join(dir, 'inherited-marker'), 'w');
    const stdio: (number | 'ignore')[] = ['ignore', 'ignore', 'ignore', fd, ...Array<'ignore'>(36).fill('ignore'), marker];
    const child = spawn(process.execPath, [join(appRoot, 'dist/toolbox.cjs')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_TOOLBOX_LISTEN_FD: '3', SHOAL_WORKDIR: dir, TMPDIR: dir, ...env },
      stdio,
    });
    closeSync(marker);
    // The test must stop accepting on the shared socket, but closing a unix listener unlinks its path (libuv):
    // keep a second name for the same socket first.
    linkSync(path, `${path}.daemon`);
    listener.close();
    const call = (method: string, urlPath: string, json?: unknown) =>
      new Promise<string>((resolve, reject) => {
        const attempt = (left: number) => {
          const req = request({ socketPath: `${path}.daemon`, path: urlPath, method, headers: { 'content-type': 'application/json' } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(text));
          });
          req.on('error', (err) => (left > 0 ? setTimeout(() => attempt(left - 1), 50) : reject(err)));
          req.end(json === undefined ? undefined : JSON.stringify(json));
        };
        attempt(100);
      });
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    };
    return { dir, call, stop };
  }
  /** Entries of `ls -l /proc/self/fd` beyond 0, 1, 2 and the directory `ls` itself opened. */
  const extraFds = (listing: string) => listing.split('\n').filter((l) => / ([3-9]|\d\d+) -> /.test(l) && !/ -> \/proc\/\d+\/fd$/.test(l));

  it('serves on an inherited listening socket (SHOAL_TOOLBOX_LISTEN_FD), as the runner starts it', async () => {
    const tbFd = await onInheritedSocket();
    try {
      assert.deepEqual(JSON.parse(await tbFd.call('GET', '/work-dir')), { dir: tbFd.dir });
      // Why shoal-exec exists: without it, whatever the daemon inherited reaches user commands.
      const leaked = JSON.parse(await tbFd.call('POST', '/process/execute', { command: 'ls -l /proc/self/fd' })).result as string;
      assert.ok(extraFds(leaked).some((l) => l.includes('inherited-marker')), `expected the unwrapped daemon to pass its descriptor on:\n${leaked}`);
    } finally {
      await tbFd.stop();
    }
  });

  it('with SHOAL_EXEC_HELPER (shoal-exec), user commands and session commands get no inherited descriptor', async () => {
    const tbFd = await onInheritedSocket({ SHOAL_EXEC_HELPER: execHelper });
    try {
      const exec = JSON.parse(await tbFd.call('POST', '/process/execute', { command: 'ls -l /proc/self/fd' })).result as string;
      assert.match(exec, / 0 -> /);
      assert.deepEqual(extraFds(exec), [], exec);
      await tbFd.call('POST', '/process/session', { sessionId: 's' });
      const session = JSON.parse(await tbFd.call('POST', '/process/session/s/exec', { command: 'ls -l /proc/self/fd' })) as { output: string; exitCode: number };
      assert.equal(session.exitCode, 0, session.output);
      assert.match(session.output, / 0 -> /);
      assert.deepEqual(extraFds(session.output), [], session.output);
      // A command that is not on PATH is still reported by the daemon itself, not as the helper's exit status.
      assert.deepEqual(JSON.parse(await tbFd.call('POST', '/process/execute', { command: 'no-such-command-xyz' })), {
        exitCode: -1,
        result: 'exec: "no-such-command-xyz": executable file not found',
      });
    } finally {
      await tbFd.stop();
    }
  });
});

/** The runner's preferred start: the daemon deserialized from the build's V8 startup snapshot (src/snapshot-main.ts). */
describe('toolbox startup snapshot (dist/toolbox.blob)', () => {
  const blob = join(appRoot, 'dist/toolbox.blob');
  before(() => {
    if (!existsSync(blob)) execFileSync(process.execPath, [join(appRoot, 'scripts/build.mjs')], { stdio: 'ignore' });
  });

  it('the build made one, and the check the runner runs loads it and exits', () => {
    assert.ok(existsSync(blob), 'scripts/build.mjs wrote dist/toolbox.blob');
    const out = execFileSync(process.execPath, ['--v8-pool-size=1', '--snapshot-blob', blob], { env: { SHOAL_TOOLBOX_SNAPSHOT_CHECK: '1' }, encoding: 'utf8' });
    assert.equal(out, 'toolbox snapshot loads\n');
  });

  it('serves as the bundle does: SHOAL_* hidden, a PTY from the addon beside the blob, 6 threads, the user\'s UV_THREADPOOL_SIZE', async () => {
    const threads = (pid: number) => Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    for (const userValue of [undefined, '7']) {
      const tb = await startToolbox({ entry: ['--v8-pool-size=1', '--snapshot-blob', blob], ...(userValue ? { env: { UV_THREADPOOL_SIZE: userValue } } : {}) });
      try {
        assert.deepEqual((await tb.http('GET', '/version')).json(), { version: '0.1.0' });
        const env = await tb.http('POST', '/process/execute', { json: { command: 'sh -c "env | grep -c ^SHOAL_ || true; echo pool=${UV_THREADPOOL_SIZE-unset}"' } });
        assert.equal(env.json().result, `0\npool=${userValue ?? 'unset'}\n`);
        assert.equal((await tb.http('GET', `/files/info?path=${encodeURIComponent(tb.workdir)}`)).status, 200);
        assert.equal(threads(tb.child.pid!), 6);
        assert.equal((await tb.http('POST', '/process/pty', { json: { id: 'snap', lazyStart: true } })).status, 201);
        const ws = tb.ws('/process/pty/snap/connect');
        const done = collect(ws);
        await new Promise((resolve) => ws.once('message', resolve));
        ws.send(Buffer.from('exit 0\n'));
        assert.deepEqual(JSON.parse((await done).reason), { exitCode: 0 });
      } finally {
        await tb.stop();
      }
    }
  });
});
