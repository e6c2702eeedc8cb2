// Every `sandbox.git` method of @daytonaio/sdk@0.108.1 (plus the toolbox's git/history route) against repositories
// the test creates: a bare repository inside the sandbox reached by file://, and repositories served over smart and
// dumb HTTP from a network namespace the test creates on the host, which the sandbox reaches through its normal egress.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DaytonaError, type Sandbox } from '@daytonaio/sdk';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import { startGitHttpServer, type GitHttpServer } from './src/git-http-netns.js';
import { assertClientError, deleteAndWait, isNotFound, toolboxRaw } from './src/toolbox-helpers.js';

let platform: TestPlatform;
let sandbox: Sandbox;
let server: GitHttpServer | undefined;

const AUTHOR = 'Sandbox Author';
const EMAIL = 'author@shoal.test';

before(async () => {
  platform = await startTestPlatform();
  sandbox = await platform.sdk().create({ labels: { suite: 'toolbox-git' } });
});

after(async () => {
  await server?.close();
  if (sandbox) await deleteAndWait(platform, sandbox);
  await platform?.close();
});

async function sh(command: string): Promise<string> {
  const r = await sandbox.process.executeCommand(command);
  assert.equal(r.exitCode, 0, `${command}: ${r.result}`);
  return r.result;
}

const head = async (repo: string) => (await sh(`git -C ${repo} rev-parse HEAD`)).trim();

interface HistoryEntry {
  hash: string;
  author: string;
  email: string;
  message: string;
  timestamp: string;
}

async function history(path: string): Promise<HistoryEntry[]> {
  const res = await toolboxRaw(platform, sandbox.id, 'GET', `git/history?path=${encodeURIComponent(path)}`);
  assert.equal(res.status, 200, res.text);
  return res.json as HistoryEntry[];
}

describe('git against a bare repository inside the sandbox (file://)', () => {
  const origin = '/tmp/origin.git';
  const url = `file://${origin}`;
  let first: string;

  test('clone of an empty repository; status of the fresh clone', async () => {
    await sh(`git init -q --bare -b main ${origin}`);
    await sandbox.git.clone(url, 'repo-a');
    const status = await sandbox.git.status('repo-a');
    assert.equal(status.currentBranch, 'main');
    assert.deepEqual(status.fileStatus, []);
  });

  test('status reports untracked and added files; add stages exactly what was named; commit returns the hash', async () => {
    await sandbox.fs.uploadFiles([
      { source: Buffer.from('# Project\n'), destination: 'repo-a/README.md' },
      { source: Buffer.from('console.log(1)\n'), destination: 'repo-a/src/app.js' },
    ]);
    let status = await sandbox.git.status('repo-a');
    const names = status.fileStatus.map((f) => f.name).sort();
    assert.deepEqual(names, ['README.md', 'src/app.js']);
    assert.ok(status.fileStatus.every((f) => f.worktree === 'Untracked'), JSON.stringify(status.fileStatus));

    await sandbox.git.add('repo-a', ['README.md']);
    status = await sandbox.git.status('repo-a');
    const readme = status.fileStatus.find((f) => f.name === 'README.md')!;
    const app = status.fileStatus.find((f) => f.name === 'src/app.js')!;
    assert.equal(readme.staging, 'Added');
    assert.equal(app.worktree, 'Untracked');

    await sandbox.git.add('repo-a', ['.']);
    const commit = await sandbox.git.commit('repo-a', 'first commit', AUTHOR, EMAIL);
    assert.match(commit.sha, /^[0-9a-f]{40}$/);
    assert.equal(commit.sha, await head('repo-a'));
    first = commit.sha;
    assert.equal(await sh('git -C repo-a log -1 --format="%an <%ae> %s"'), `${AUTHOR} <${EMAIL}> first commit\n`);
    assert.deepEqual((await sandbox.git.status('repo-a')).fileStatus, []);
  });

  test('push publishes the branch to the bare repository', async () => {
    await sandbox.git.push('repo-a');
    assert.equal((await sh(`git --git-dir ${origin} rev-parse main`)).trim(), first);
    const status = await sandbox.git.status('repo-a');
    assert.equal(status.branchPublished, true);
    assert.equal(status.ahead, 0);
    assert.equal(status.behind, 0);
  });

  test('createBranch checks the new branch out; branches lists it; checkoutBranch switches; deleteBranch removes it', async () => {
    await sandbox.git.createBranch('repo-a', 'feature/x');
    assert.equal((await sandbox.git.status('repo-a')).currentBranch, 'feature/x');
    assert.deepEqual((await sandbox.git.branches('repo-a')).branches.sort(), ['feature/x', 'main']);
    await sandbox.fs.uploadFile(Buffer.from('feature\n'), 'repo-a/feature.txt');
    await sandbox.git.add('repo-a', ['feature.txt']);
    const feature = await sandbox.git.commit('repo-a', 'feature work', AUTHOR, EMAIL);
    await sandbox.git.push('repo-a');
    assert.equal((await sh(`git --git-dir ${origin} rev-parse feature/x`)).trim(), feature.sha);

    await sandbox.git.checkoutBranch('repo-a', 'main');
    assert.equal((await sandbox.git.status('repo-a')).currentBranch, 'main');
    assert.equal(await sh('test -e repo-a/feature.txt && echo yes || echo no'), 'no\n');
    await sandbox.git.deleteBranch('repo-a', 'feature/x');
    assert.deepEqual((await sandbox.git.branches('repo-a')).branches, ['main']);
  });

  test('clone with a branch, and clone at a commit', async () => {
    await sandbox.git.clone(url, 'repo-branch', 'feature/x');
    assert.equal((await sandbox.git.status('repo-branch')).currentBranch, 'feature/x');
    assert.equal((await sandbox.fs.downloadFile('repo-branch/feature.txt')).toString(), 'feature\n');

    await sandbox.git.clone(url, 'repo-commit', undefined, first);
    assert.equal(await head('repo-commit'), first);
    assert.equal(await sh('test -e repo-commit/feature.txt && echo yes || echo no'), 'no\n');
  });

  test('pull brings a commit pushed from another clone; status counts unpushed commits', async () => {
    await sandbox.git.clone(url, 'repo-b', 'main');
    await sandbox.fs.uploadFile(Buffer.from('from a\n'), 'repo-a/pulled.txt');
    await sandbox.git.add('repo-a', ['pulled.txt']);
    const second = await sandbox.git.commit('repo-a', 'second commit', AUTHOR, EMAIL);
    await sandbox.git.push('repo-a');

    await sandbox.git.pull('repo-b');
    assert.equal(await head('repo-b'), second.sha);
    assert.equal((await sandbox.fs.downloadFile('repo-b/pulled.txt')).toString(), 'from a\n');

    await sandbox.fs.uploadFile(Buffer.from('# Project\nedited\n'), 'repo-b/README.md');
    const modified = (await sandbox.git.status('repo-b')).fileStatus;
    assert.deepEqual(modified.map((f) => [f.name, f.worktree]), [['README.md', 'Modified']]);
    await sandbox.git.add('repo-b', ['README.md']);
    await sandbox.git.commit('repo-b', 'local only', AUTHOR, EMAIL);
    const status = await sandbox.git.status('repo-b');
    assert.equal(status.ahead, 1);
    assert.equal(status.behind, 0);
  });

  test('commit with allowEmpty; without it an empty commit is refused with git\'s message', async () => {
    const before = await head('repo-a');
    const empty = await sandbox.git.commit('repo-a', 'empty marker', AUTHOR, EMAIL, true);
    assert.notEqual(empty.sha, before);
    await assert.rejects(sandbox.git.commit('repo-a', 'nothing', AUTHOR, EMAIL), (err: Error) => {
      assert.ok(err instanceof DaytonaError);
      assert.match(err.message, /nothing to commit|no changes/i);
      return true;
    });
  });

  test('history lists commits newest first with author, email, message and time', async () => {
    const log = await history('repo-a');
    assert.deepEqual(log.map((c) => c.message.trim()), ['empty marker', 'second commit', 'first commit']);
    assert.equal(log[2]!.hash, first);
    for (const c of log) {
      assert.equal(c.author, AUTHOR);
      assert.equal(c.email, EMAIL);
      assert.ok(!Number.isNaN(Date.parse(c.timestamp)), c.timestamp);
    }
  });
});

describe('git over HTTP from a network namespace on the host', () => {
  let publicSeed: string;

  before(async () => {
    server = await startGitHttpServer();
    publicSeed = await server.createRepo('public', { 'README.md': 'public over http\n', 'lib/a.txt': 'a\n' });
    await server.createRepo('private-team', { 'SECRET.md': 'team only\n' });
  });

  test('clone over smart HTTP', async () => {
    await sandbox.git.clone(`${server!.url}/git/public.git`, 'http-smart');
    assert.equal(await head('http-smart'), publicSeed);
    assert.equal((await sandbox.fs.downloadFile('http-smart/README.md')).toString(), 'public over http\n');
    assert.equal((await sandbox.git.status('http-smart')).currentBranch, 'main');
    const log = await server!.accessLog();
    assert.ok(log.some((l) => l.includes('/git/public.git/git-upload-pack')), log.join('\n'));
  });

  test('clone over dumb HTTP', async () => {
    await sandbox.git.clone(`${server!.url}/dumb/public.git`, 'http-dumb', 'main');
    assert.equal(await head('http-dumb'), publicSeed);
    assert.equal((await sandbox.fs.downloadFile('http-dumb/lib/a.txt')).toString(), 'a\n');
    const log = await server!.accessLog();
    assert.ok(log.some((l) => l.startsWith('GET /dumb/public.git/objects/')), log.join('\n'));
  });

  test('a private repository needs credentials: refused without, wrong ones rejected, cloned with them', async () => {
    await assert.rejects(sandbox.git.clone(`${server!.url}/git/private-team.git`, 'http-private'), (err: Error) => {
      assert.ok(err instanceof DaytonaError);
      assert.match(err.message, /auth|401|credential|could not read/i);
      return true;
    });
    await assert.rejects(
      sandbox.git.clone(`${server!.url}/git/private-team.git`, 'http-private', undefined, undefined, server!.user, 'wrong-password'),
      (err: Error) => {
        assert.match(err.message, /auth|401|credential/i);
        assert.ok(!err.message.includes('wrong-password'), 'the password must not be echoed');
        return true;
      },
    );
    await sandbox.git.clone(`${server!.url}/git/private-team.git`, 'http-private', 'main', undefined, server!.user, server!.password);
    assert.equal((await sandbox.fs.downloadFile('http-private/SECRET.md')).toString(), 'team only\n');
    // Credentials are used for that one call only: nothing is stored in the clone's config or the remote URL.
    const config = await sh('cat http-private/.git/config');
    assert.ok(!config.includes(server!.password), 'the password leaked into .git/config');
  });

  test('push over smart HTTP needs credentials and lands on the server', async () => {
    await sandbox.fs.uploadFile(Buffer.from('pushed from the sandbox\n'), 'http-private/from-sandbox.txt');
    await sandbox.git.add('http-private', ['from-sandbox.txt']);
    const commit = await sandbox.git.commit('http-private', 'sandbox push', AUTHOR, EMAIL);
    await assert.rejects(sandbox.git.push('http-private'), DaytonaError);
    await sandbox.git.push('http-private', server!.user, server!.password);
    const onServer = server!.git(['--git-dir', `${server!.repos}/private-team.git`, 'log', '-1', '--format=%H %an %s', 'main']);
    assert.equal(onServer.trim(), `${commit.sha} ${AUTHOR} sandbox push`);
    const status = await sandbox.git.status('http-private');
    assert.equal(status.ahead, 0);
    assert.equal(status.branchPublished, true);
  });

  test('pull over smart HTTP brings a commit made on the server side', async () => {
    const hostSha = await server!.commitOnHost('private-team', { 'from-host.txt': 'made on the host\n' }, 'host commit');
    await sandbox.git.pull('http-private', server!.user, server!.password);
    assert.equal(await head('http-private'), hostSha);
    assert.equal((await sandbox.fs.downloadFile('http-private/from-host.txt')).toString(), 'made on the host\n');
    const log = await history('http-private');
    assert.deepEqual(log.map((c) => c.message.trim()), ['host commit', 'sandbox push', 'seed private-team']);
  });

  test('pull over dumb HTTP', async () => {
    const hostSha = await server!.commitOnHost('public', { 'dumb.txt': 'dumb pull\n' }, 'for the dumb clone');
    await sandbox.git.pull('http-dumb');
    assert.equal(await head('http-dumb'), hostSha);
    assert.equal((await sandbox.fs.downloadFile('http-dumb/dumb.txt')).toString(), 'dumb pull\n');
  });
});

describe('git bad input', () => {
  const alive = async () => assert.equal((await sandbox.process.executeCommand('echo alive')).result, 'alive\n');

  test('a path that does not exist, a directory that is not a repository, unknown branches, bad URLs', async () => {
    await assert.rejects(sandbox.git.status('no-such-repo'), isNotFound);
    assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', 'git/status?path=no-such-repo'), 404, /no-such-repo/);
    await sh('mkdir -p not-a-repo');
    await assert.rejects(sandbox.git.branches('not-a-repo'), /not a git repository/i);
    assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', 'git/branches?path=not-a-repo'), 400, /not a git repository/i);
    await assert.rejects(sandbox.git.checkoutBranch('repo-a', 'no-such-branch'), /no-such-branch/);
    await assert.rejects(sandbox.git.deleteBranch('repo-a', 'no-such-branch'), /no-such-branch/);
    await assert.rejects(sandbox.git.clone('file:///tmp/no-such-origin.git', 'never'), /no-such-origin|does not exist|not appear/i);
    assertClientError(
      await toolboxRaw(platform, sandbox.id, 'POST', 'git/clone', {
        body: JSON.stringify({ path: 'x' }),
        headers: { 'content-type': 'application/json' },
      }),
      400,
    );
    assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', 'git/status'), 400);
    await alive();
  });
});
