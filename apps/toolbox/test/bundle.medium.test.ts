import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect, startToolbox, type RunningToolbox } from './harness.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

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

  it('serves on an inherited listening socket (SHOAL_TOOLBOX_LISTEN_FD), as the runner starts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toolbox-fd-'));
    const path = join(dir, 'runner.sock');
    const listener = createNetServer();
    listener.listen(path);
    await once(listener, 'listening');
    // The runner hands the daemon a listening socket as fd 3; here the test's own listener plays that part.
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, [join(appRoot, 'dist/toolbox.cjs')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_TOOLBOX_LISTEN_FD: '3', SHOAL_WORKDIR: dir, TMPDIR: dir },
      stdio: ['ignore', 'ignore', 'ignore', fd],
    });
    try {
      // The test must stop accepting on the shared socket, but closing a unix listener unlinks its path (libuv):
      // keep a second name for the same socket first.
      linkSync(path, `${path}.daemon`);
      listener.close();
      const body = await new Promise<string>((resolve, reject) => {
        const attempt = (left: number) => {
          const req = request({ socketPath: `${path}.daemon`, path: '/work-dir' }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(text));
          });
          req.on('error', (err) => (left > 0 ? setTimeout(() => attempt(left - 1), 50) : reject(err)));
          req.end();
        };
        attempt(100);
      });
      assert.deepEqual(JSON.parse(body), { dir });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
