import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { Daytona, Sandbox } from '@daytonaio/sdk';
import { SandboxPythonCodeToolbox } from '@daytonaio/sdk/src/code-toolbox/SandboxPythonCodeToolbox.js';
import type { ToolboxContext } from '../src/context.js';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A context for services run in the test process itself, as this host user, working and running in `dir`. */
export function hostContext(dir: string, execHelper?: string): ToolboxContext {
  return {
    identity: { user: 'root', uid: process.getuid!(), gid: process.getgid!(), home: dir, shell: '/bin/sh' },
    workdir: dir,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir },
    runtimeDir: dir,
    log: () => undefined,
    execHelper,
  };
}

export interface RunningToolbox {
  dir: string;
  workdir: string;
  socket: string;
  child: ChildProcess;
  stderr: () => string;
  http(method: string, path: string, opts?: { json?: unknown; body?: string | Buffer; headers?: Record<string, string> }): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: Buffer;
    text: string;
    json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test bodies are asserted field by field
  }>;
  ws(path: string, headers?: Record<string, string>): WebSocket;
  stop(): Promise<void>;
}

/**
 * Starts the real daemon as a child process in dev mode (no SHOAL_SANDBOX_USER: it runs as whoever runs the tests and
 * never touches /etc) on a temporary unix socket, with a temporary working directory.
 */
export async function startToolbox(options: { entry?: string[]; env?: Record<string, string> } = {}): Promise<RunningToolbox> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'toolbox-test-')));
  const workdir = join(dir, 'work');
  mkdirSync(workdir);
  const socket = join(dir, 'toolbox.sock');
  // The daemon's own HOME (below) as a user who set up git has it: a pull that has to merge needs a committer.
  writeFileSync(join(dir, '.gitconfig'), '[user]\n\tname = Toolbox Test\n\temail = toolbox-test@example.com\n');
  const entry = options.entry ?? ['--import', 'tsx', join(appRoot, 'src/main.ts')];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TMPDIR: dir,
    // Not the account's home: a shell the daemon starts would run its startup files (on a developer's machine, or
    // this CI host, whatever ~/.bashrc does), and the tests are about the daemon.
    HOME: dir,
    SHOAL_TOOLBOX_SOCKET: socket,
    SHOAL_WORKDIR: workdir,
    // As in a sandbox: user processes start through shoal-exec (built by the bootstrap that npm test runs).
    SHOAL_EXEC_HELPER: join(appRoot, '../runner/native/dist/shoal-exec'),
    ...options.env,
  };
  const child = spawn(process.execPath, entry, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const agent = new Agent({ connect: { socketPath: socket } });
  const http: RunningToolbox['http'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | Buffer | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    const res = await request(`http://toolbox${path}`, { method: method as 'GET', headers, body, dispatcher: agent });
    const buf = Buffer.from(await res.body.arrayBuffer());
    return {
      status: res.statusCode,
      headers: res.headers,
      body: buf,
      text: buf.toString('utf8'),
      json: () => JSON.parse(buf.toString('utf8')),
    };
  };
  // tsx compiles the whole toolbox at start: seconds on a quiet host, over 20 s on a loaded 2-core one.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`toolbox exited early: ${stderr}`);
    try {
      const res = await http('GET', '/version');
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`toolbox did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    dir,
    workdir,
    socket,
    child,
    stderr: () => stderr,
    http,
    ws: (path, headers = {}) => new WebSocket(`ws+unix://${socket}:${path}`, { headers }),
    async stop() {
      // Tests may stop it early; the suite's own stop then has nothing left to do.
      if (agent.closed) return;
      await agent.close();
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface FakeApi {
  url: string;
  sandbox: Sandbox;
  close(): Promise<void>;
}

/**
 * A stand-in for the API's toolbox proxy and preview proxy, just enough for the official SDK's classes to reach the
 * daemon unchanged: `/api/toolbox/{id}/toolbox/*` and `/preview/*` are forwarded byte for byte to the daemon's socket
 * (WebSocket upgrades included), and the preview-url endpoint points at `/preview`.
 */
export async function startFakeApi(toolbox: RunningToolbox, sandboxId = 'sbx-test'): Promise<FakeApi> {
  const prefix = `/api/toolbox/${sandboxId}/toolbox`;
  const rewrite = (url: string) =>
    url.startsWith(prefix) ? url.slice(prefix.length) || '/' : url.startsWith('/preview') ? url.slice('/preview'.length) || '/' : undefined;
  let base = '';
  const server: Server = createServer((req, res) => {
    if (req.url === `/api/sandbox/${sandboxId}/ports/2280/preview-url`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: `${base}/preview`, token: 'preview-token' }));
      return;
    }
    const path = rewrite(req.url ?? '/');
    if (!path) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ statusCode: 404, message: 'not found', error: 'Not Found' }));
      return;
    }
    const upstream = httpRequest({ socketPath: toolbox.socket, path, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('upgrade', (req, socket, head) => {
    const path = rewrite(req.url ?? '/');
    if (!path) return socket.destroy();
    const upstream = connect(toolbox.socket, () => {
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const daytona = new Daytona({ apiKey: 'test-key', apiUrl: `${base}/api`, target: 'local' });
  const internals = daytona as unknown as { clientConfig: never; sandboxApi: never; toolboxApi: never };
  const dto = { id: sandboxId, state: 'started', labels: {}, env: {} } as never;
  const sandbox = new Sandbox(dto, internals.clientConfig, internals.sandboxApi, internals.toolboxApi, new SandboxPythonCodeToolbox());
  return {
    url: base,
    sandbox,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Collects every message of a WebSocket until it closes. */
export function collect(ws: WebSocket): Promise<{ messages: { data: Buffer; binary: boolean }[]; code: number; reason: string }> {
  const messages: { data: Buffer; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => messages.push({ data: Buffer.from(data), binary }));
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code, reason) => resolve({ messages, code, reason: reason.toString() }));
  });
}

/**
 * Starts a daemon and the SDK-facing stand-in API before the enclosing suite and stops both after it.
 * Read `tb` and `api` inside tests (they are set once `before` has run).
 */
export function useToolbox(options: Parameters<typeof startToolbox>[0] = {}): { readonly tb: RunningToolbox; readonly api: FakeApi } {
  const ctx = {} as { tb: RunningToolbox; api: FakeApi };
  before(async () => {
    ctx.tb = await startToolbox(options);
    ctx.api = await startFakeApi(ctx.tb);
  });
  after(async () => {
    await ctx.api.close();
    await ctx.tb.stop();
  });
  return ctx;
}
