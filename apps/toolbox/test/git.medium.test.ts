import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startFakeApi, startToolbox, type FakeApi, type RunningToolbox } from './harness.js';

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'seed',
  GIT_AUTHOR_EMAIL: 'seed@example.com',
  GIT_COMMITTER_NAME: 'seed',
  GIT_COMMITTER_EMAIL: 'seed@example.com',
};
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

/** A bare repository with one commit on main and a second branch, created from scratch. */
function seedBareRepo(dir: string): string {
  const bare = join(dir, 'origin.git');
  const seed = join(dir, 'seed');
  git(dir, 'init', '--bare', '--initial-branch=main', bare);
  git(dir, 'init', '--initial-branch=main', seed);
  writeFileSync(join(seed, 'README.md'), 'hello\n');
  git(seed, 'add', '.');
  git(seed, 'commit', '-m', 'initial');
  git(seed, 'branch', 'feature');
  git(seed, 'remote', 'add', 'origin', bare);
  git(seed, 'push', 'origin', 'main', 'feature');
  return bare;
}

/** `git http-backend` behind HTTP basic auth on loopback, to check that clone/push credentials work. */
async function serveOverHttp(root: string, user: string, password: string): Promise<{ url: string; server: Server }> {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: user,
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [key, ...rest] = line.split(':');
        const value = rest.join(':').trim();
        if (key?.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else if (key) headers[key] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('toolbox git', () => {
  let tb: RunningToolbox;
  let api: FakeApi;
  let bare: string;
  before(async () => {
    tb = await startToolbox();
    api = await startFakeApi(tb);
    bare = seedBareRepo(tb.dir);
  });
  after(async () => {
    await api.close();
    await tb.stop();
  });

  it('clones, branches, commits, pushes, pulls, reports status and history (file://)', async () => {
    const g = api.sandbox.git;
    await g.clone(`file://${bare}`, 'repo');
    assert.ok(existsSync(join(tb.workdir, 'repo/README.md')));

    let status = await g.status('repo');
    assert.equal(status.currentBranch, 'main');
    assert.deepEqual(status.fileStatus, []);
    assert.equal(status.ahead, 0);
    assert.equal(status.behind, 0);
    assert.equal(status.branchPublished, true);

    writeFileSync(join(tb.workdir, 'repo/new.txt'), 'new\n');
    writeFileSync(join(tb.workdir, 'repo/README.md'), 'changed\n');
    status = await g.status('repo');
    const byName = Object.fromEntries(status.fileStatus.map((f) => [f.name, f]));
    assert.deepEqual(byName['new.txt'], { name: 'new.txt', staging: 'Untracked', worktree: 'Untracked', extra: '' });
    assert.deepEqual(byName['README.md'], { name: 'README.md', staging: 'Unmodified', worktree: 'Modified', extra: '' });

    await g.add('repo', ['new.txt', 'README.md']);
    status = await g.status('repo');
    assert.equal(status.fileStatus.find((f) => f.name === 'new.txt')?.staging, 'Added');
    const { sha } = await g.commit('repo', 'add new file', 'Agent Smith', 'agent@example.com');
    assert.match(sha, /^[0-9a-f]{40}$/);
    assert.equal(git(join(tb.workdir, 'repo'), 'log', '-1', '--format=%an <%ae>|%s'), 'Agent Smith <agent@example.com>|add new file');
    status = await g.status('repo');
    assert.equal(status.ahead, 1);

    await g.push('repo');
    assert.equal(git(bare, 'rev-parse', 'main'), sha);
    assert.equal((await g.status('repo')).ahead, 0);

    const empty = await g.commit('repo', 'empty', 'A', 'a@example.com', true);
    assert.notEqual(empty.sha, sha);

    await g.createBranch('repo', 'topic');
    assert.equal((await g.status('repo')).currentBranch, 'topic');
    assert.equal((await g.status('repo')).branchPublished, false);
    await g.push('repo');
    assert.equal(git(bare, 'rev-parse', 'topic'), empty.sha);
    assert.deepEqual((await g.branches('repo')).branches.sort(), ['main', 'topic']);
    await g.checkoutBranch('repo', 'main');
    await g.deleteBranch('repo', 'topic');
    assert.deepEqual((await g.branches('repo')).branches, ['main']);

    // Someone else pushes; pull brings it in.
    const other = join(tb.dir, 'other');
    git(tb.dir, 'clone', bare, other);
    writeFileSync(join(other, 'theirs.txt'), 'theirs\n');
    git(other, 'add', '.');
    git(other, 'commit', '-m', 'theirs');
    git(other, 'push', 'origin', 'main');
    await g.pull('repo');
    assert.equal(readFileSync(join(tb.workdir, 'repo/theirs.txt'), 'utf8'), 'theirs\n');

    const history = await tb.http('GET', '/git/history?path=repo');
    assert.equal(history.status, 200);
    const commits = history.json();
    // main had an unpushed empty commit, so the pull merged.
    assert.match(commits[0].message, /^Merge branch 'main'/);
    assert.ok(commits.some((c: { message: string; author: string }) => c.message === 'theirs' && c.author === 'seed'));
    assert.equal(commits.at(-1).message, 'initial');
    assert.match(commits[0].timestamp, /^\d{4}-\d\d-\d\dT/);
  });

  it('clones a given branch and a given commit', async () => {
    await api.sandbox.git.clone(`file://${bare}`, 'by-branch', 'feature');
    assert.equal((await api.sandbox.git.status('by-branch')).currentBranch, 'feature');
    const first = git(bare, 'rev-list', '--max-parents=0', 'main');
    await api.sandbox.git.clone(`file://${bare}`, 'by-commit', undefined, first);
    assert.equal(git(join(tb.workdir, 'by-commit'), 'rev-parse', 'HEAD'), first);
  });

  it('uses username/password for HTTP remotes without storing or echoing them', async () => {
    const { url, server } = await serveOverHttp(tb.dir, 'alice', 's3cr3t-pw');
    try {
      await api.sandbox.git.clone(`${url}/origin.git`, 'over-http', undefined, undefined, 'alice', 's3cr3t-pw');
      const config = readFileSync(join(tb.workdir, 'over-http/.git/config'), 'utf8');
      assert.doesNotMatch(config, /s3cr3t/);
      writeFileSync(join(tb.workdir, 'over-http/h.txt'), 'h\n');
      await api.sandbox.git.add('over-http', ['.']);
      await api.sandbox.git.commit('over-http', 'over http', 'A', 'a@example.com');
      await api.sandbox.git.push('over-http', 'alice', 's3cr3t-pw');
      assert.match(git(bare, 'log', '-1', '--format=%s', 'main'), /over http/);

      const denied = await tb.http('POST', '/git/clone', {
        json: { url: `http://bob:wrong-pw@${url.slice('http://'.length)}/origin.git`, path: 'denied' },
      });
      assert.equal(denied.status, 400);
      assert.doesNotMatch(denied.text, /wrong-pw/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('answers 4xx for bad input: missing repo, unknown branch, missing fields', async () => {
    mkdirSync(join(tb.workdir, 'not-a-repo'), { recursive: true });
    assert.equal((await tb.http('GET', '/git/status?path=nowhere')).status, 404);
    const notRepo = await tb.http('GET', '/git/status?path=not-a-repo');
    assert.equal(notRepo.status, 400);
    assert.match(notRepo.json().message, /not a git repository/);
    assert.equal((await tb.http('POST', '/git/checkout', { json: { path: 'repo', branch: 'no-such-branch' } })).status, 400);
    assert.equal((await tb.http('POST', '/git/clone', { json: { path: 'x' } })).status, 400);
    assert.equal((await tb.http('DELETE', '/git/branches', { json: { path: 'repo' } })).status, 400);
    assert.equal((await tb.http('POST', '/git/clone', { json: { url: `file://${tb.dir}/missing.git`, path: 'm' } })).status, 400);
  });
});
