/*
 * A git server on HTTP inside a network namespace the test creates on the host: a veth pair links it to the host, and
 * sandboxes reach it through their normal egress (the runner masquerades sandbox traffic leaving the bridge).
 * It serves smart HTTP through `git http-backend` (CGI) under /git/ and plain files under /dumb/ (the dumb protocol
 * after `git update-server-info`). Repositories named `private-*` and every push need HTTP Basic credentials.
 * Every request is appended to access.log so tests can tell which protocol a client used.
 * close() kills the server by PID and deletes the namespace, the veth pair and the files.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SERVER = String.raw`
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const [host, port, root, user, password, logFile] = process.argv.slice(2);
const expected = 'Basic ' + Buffer.from(user + ':' + password).toString('base64');

function log(line) { fs.appendFileSync(logFile, line + '\n'); }

function serveStatic(req, res, rel) {
  const file = path.resolve(root, '.' + rel);
  if (!file.startsWith(root + '/')) { res.writeHead(403); return res.end(); }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) { res.writeHead(404, { 'content-type': 'text/plain' }); return res.end('not found'); }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
    fs.createReadStream(file).pipe(res);
  });
}

function cgi(req, res, pathInfo, query, remoteUser) {
  const env = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method,
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    CONTENT_TYPE: req.headers['content-type'] || '',
    REMOTE_ADDR: req.socket.remoteAddress || '',
    REMOTE_USER: remoteUser || '',
    GIT_PROTOCOL: req.headers['git-protocol'] || '',
    HTTP_CONTENT_ENCODING: req.headers['content-encoding'] || '',
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk) => {
    if (headersDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    let end = head.indexOf('\r\n\r\n');
    let sep = 4;
    if (end < 0) { end = head.indexOf('\n\n'); sep = 2; }
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    const headers = {};
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === 'status') status = parseInt(v, 10);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + sep));
  });
  child.stdout.on('end', () => { if (!headersDone) res.writeHead(502); res.end(); });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const auth = req.headers.authorization;
  log(req.method + ' ' + req.url + (auth ? ' [auth]' : ''));
  if (url.pathname.startsWith('/dumb/')) return serveStatic(req, res, url.pathname.slice('/dumb'.length));
  if (!url.pathname.startsWith('/git/')) { res.writeHead(404); return res.end(); }
  const pathInfo = url.pathname.slice('/git'.length);
  const needsAuth = /^\/private-/.test(pathInfo) || /git-receive-pack/.test(url.pathname + url.search);
  if (needsAuth && auth !== expected) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="shoal-test"', 'content-type': 'text/plain' });
    return res.end('authentication required');
  }
  cgi(req, res, pathInfo, url.search.slice(1), needsAuth ? user : '');
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

export interface GitHttpServer {
  /** Base URL as seen from a sandbox, e.g. http://198.19.7.2:8080 (smart: `${url}/git/x.git`, dumb: `${url}/dumb/x.git`). */
  url: string;
  /** Directory holding the bare repositories. */
  repos: string;
  user: string;
  password: string;
  /** Runs git on the host (as the server's owner) and returns stdout. */
  git(args: string[], cwd?: string): string;
  /** Creates a bare repository `name` whose main branch has one commit with `files`; returns that commit's hash. */
  createRepo(name: string, files: Record<string, string>): Promise<string>;
  /** Commits `files` on top of main of a repository and pushes it there from the host; returns the new hash. */
  commitOnHost(name: string, files: Record<string, string>, message: string): Promise<string>;
  accessLog(): Promise<string[]>;
  close(): Promise<void>;
}

function freeSubnetOctet(): number {
  const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  for (let attempt = 0; attempt < 100; attempt++) {
    // 198.18.0.0/15 (benchmarking) is the tests' "internet": private ranges are below the sandboxes' egress floor.
    const x = 100 + Math.floor(Math.random() * 150);
    if (!routes.includes(`198.19.${x}.`)) return x;
  }
  throw new Error('no free 198.19.x.0/30 range for the git server namespace');
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });

export async function startGitHttpServer(): Promise<GitHttpServer> {
  const id = randomBytes(3).toString('hex');
  const ns = `shgit${id}`;
  const hostVeth = `shgh${id}`;
  const nsVeth = `shgn${id}`;
  const octet = freeSubnetOctet();
  const hostIp = `198.19.${octet}.1`;
  const serverIp = `198.19.${octet}.2`;
  const root = await mkdtemp(join(process.env.SHOAL_TEST_SCRATCH ?? tmpdir(), 'e2e-git-http-'));
  const repos = join(root, 'repos');
  const logFile = join(root, 'access.log');
  const user = 'shoal-tester';
  const password = `pw-${randomBytes(8).toString('hex')}`;
  let child: ChildProcess | undefined;

  const cleanup = async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child?.pid && process.kill(child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    try {
      ip('netns', 'del', ns);
    } catch {
      // never created
    }
    try {
      ip('link', 'del', hostVeth);
    } catch {
      // deleted with the namespace
    }
    await rm(root, { recursive: true, force: true });
  };

  try {
    execFileSync('mkdir', ['-p', repos]);
    await writeFile(join(root, 'server.cjs'), SERVER);
    await writeFile(logFile, '');
    ip('netns', 'add', ns);
    ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', nsVeth, 'netns', ns);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostVeth);
    ip('link', 'set', hostVeth, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${serverIp}/30`, 'dev', nsVeth);
    ip('-n', ns, 'link', 'set', nsVeth, 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', hostIp);
    // `ip netns exec` execs the command, so this PID is the server's own.
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(root, 'server.cjs'), serverIp, '8080', repos, user, password, logFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('listening')) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`git http server exited with ${code} before listening`)));
    });
  } catch (err) {
    await cleanup();
    throw err;
  }

  const git = (args: string[], cwd = root) =>
    execFileSync('git', ['-c', 'user.name=Host Tester', '-c', 'user.email=host@shoal.test', '-c', 'init.defaultBranch=main', ...args], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  const commitFiles = async (work: string, files: Record<string, string>, message: string) => {
    for (const [name, content] of Object.entries(files)) {
      execFileSync('mkdir', ['-p', join(work, name, '..')]);
      await writeFile(join(work, name), content);
    }
    git(['add', '-A'], work);
    git(['commit', '-q', '-m', message], work);
    return git(['rev-parse', 'HEAD'], work).trim();
  };

  return {
    url: `http://${serverIp}:8080`,
    repos,
    user,
    password,
    git,
    async createRepo(name, files) {
      const bare = join(repos, `${name}.git`);
      git(['init', '-q', '--bare', '-b', 'main', bare]);
      const work = await mkdtemp(join(root, 'work-'));
      git(['init', '-q', '-b', 'main', work]);
      const sha = await commitFiles(work, files, `seed ${name}`);
      git(['push', '-q', bare, 'main'], work);
      git(['--git-dir', bare, 'update-server-info']);
      await rm(work, { recursive: true, force: true });
      return sha;
    },
    async commitOnHost(name, files, message) {
      const bare = join(repos, `${name}.git`);
      const work = await mkdtemp(join(root, 'work-'));
      git(['clone', '-q', bare, work]);
      const sha = await commitFiles(work, files, message);
      git(['push', '-q', 'origin', 'main'], work);
      git(['--git-dir', bare, 'update-server-info']);
      await rm(work, { recursive: true, force: true });
      return sha;
    },
    accessLog: async () => (await readFile(logFile, 'utf8')).split('\n').filter(Boolean),
    close: cleanup,
  };
}
