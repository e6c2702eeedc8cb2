// Every `sandbox.fs` method of @daytonaio/sdk@0.108.1 (and the directory getters) against a real sandbox, through the
// real API and runner: exact byte round trips (binary and a 200 MB file streamed from and to disk), relative paths
// shared with executeCommand, and bad input answered with a clear 4xx while the daemon keeps serving.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DaytonaError, type Sandbox } from '@daytonaio/sdk';
import { SERVICE_NODE_FLAGS } from '@shoal/platform';
import { startTestPlatform, type TestPlatform } from './src/harness.js';
import {
  assertClientError,
  deleteAndWait,
  isNotFound,
  peakRssKiB,
  resetPeakRss,
  sha256,
  sha256File,
  toolboxRaw,
  writeRandomFile,
} from './src/toolbox-helpers.js';

let platform: TestPlatform;
let sandbox: Sandbox;
let local: string;

before(async () => {
  local = await mkdtemp(join(process.env.SHOAL_TEST_SCRATCH ?? tmpdir(), 'e2e-toolbox-fs-'));
  platform = await startTestPlatform();
  sandbox = await platform.sdk().create({ labels: { suite: 'toolbox-fs' } });
});

after(async () => {
  if (sandbox) await deleteAndWait(platform, sandbox);
  await platform?.close();
  await rm(local, { recursive: true, force: true });
});

async function sh(command: string): Promise<string> {
  const r = await sandbox.process.executeCommand(command);
  assert.equal(r.exitCode, 0, `${command}: ${r.result}`);
  return r.result;
}

/** Every byte value, CR/LF runs and strings that look like multipart boundaries, then random bytes. */
function awkwardBinary(randomLength: number): Buffer {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const tricky = Buffer.from('\r\n--DAYTONA-FILE-BOUNDARY\r\n--\r\n\r\n\x00\x01\x01\x01\x02\x02\x02\r\n', 'latin1');
  return Buffer.concat([all, tricky, randomBytes(randomLength), tricky, all]);
}

describe('toolbox fs through the SDK', () => {
  let home: string;
  let workDir: string;

  test('getUserHomeDir, getUserRootDir and getWorkDir agree with the shell', async () => {
    home = (await sandbox.getUserHomeDir())!;
    workDir = (await sandbox.getWorkDir())!;
    assert.equal(await sandbox.getUserRootDir(), home);
    assert.equal((await sh('printf %s "$HOME"')), home);
    assert.equal((await sh('pwd')).trim(), workDir, 'executeCommand runs in the work dir');
    assert.match(home, /^\//);
  });

  test('routes the SDK never calls: project-dir, single-file upload and download', async () => {
    const project = await toolboxRaw(platform, sandbox.id, 'GET', 'project-dir');
    assert.equal(project.status, 200, project.text);
    assert.match((project.json as { dir: string }).dir, /^\//);
    const boundary = 'single-upload-boundary';
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n`),
      Buffer.from([0, 1, 2, 13, 10, 255]),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const up = await toolboxRaw(platform, sandbox.id, 'POST', 'files/upload?path=single%2Fs.bin', {
      body: payload,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    assert.ok(up.status >= 200 && up.status < 300, `upload: HTTP ${up.status} ${up.text}`);
    const res = await fetch(`${platform.apiUrl}/toolbox/${sandbox.id}/toolbox/files/download?path=single%2Fs.bin`, {
      headers: { authorization: `Bearer ${platform.apiKey}` },
    });
    assert.equal(res.status, 200);
    assert.deepEqual([...Buffer.from(await res.arrayBuffer())], [0, 1, 2, 13, 10, 255]);
  });

  test('relative paths of fs and executeCommand share the working directory', async () => {
    await sandbox.fs.uploadFile(Buffer.from('from the sdk\n'), 'rel/from-sdk.txt');
    assert.equal(await sh('cat rel/from-sdk.txt'), 'from the sdk\n');
    assert.equal(await sh(`cat ${workDir}/rel/from-sdk.txt`), 'from the sdk\n');
    await sh('mkdir -p rel && printf "from the shell" > rel/from-shell.txt');
    assert.equal((await sandbox.fs.downloadFile('rel/from-shell.txt')).toString(), 'from the shell');
    const names = (await sandbox.fs.listFiles('rel')).map((f) => f.name).sort();
    assert.deepEqual(names, ['from-sdk.txt', 'from-shell.txt']);
    const abs = await sandbox.fs.getFileDetails(`${workDir}/rel/from-shell.txt`);
    assert.equal(abs.size, 'from the shell'.length);
  });

  test('binary bytes round-trip exactly (upload, shell hash, download)', async () => {
    const data = awkwardBinary(3 * 1024 * 1024 + 17);
    await sandbox.fs.uploadFile(data, 'bin/awkward.bin');
    assert.equal((await sh('sha256sum bin/awkward.bin')).split(' ')[0], sha256(data));
    const back = await sandbox.fs.downloadFile('bin/awkward.bin');
    assert.equal(back.length, data.length);
    assert.ok(back.equals(data), 'downloaded bytes differ from the uploaded ones');
    const empty = Buffer.alloc(0);
    await sandbox.fs.uploadFile(empty, 'bin/empty.bin');
    assert.equal((await sandbox.fs.downloadFile('bin/empty.bin')).length, 0);
    assert.equal((await sandbox.fs.getFileDetails('bin/empty.bin')).size, 0);
  });

  test('paths with spaces, plus signs, quotes and non-ASCII characters survive every route', async () => {
    const dir = 'odd names/a+b & "c"';
    const file = `${dir}/ünï cødé 'x'.txt`;
    await sandbox.fs.uploadFile(Buffer.from('odd'), file);
    assert.equal((await sandbox.fs.downloadFile(file)).toString(), 'odd');
    const listed = await sandbox.fs.listFiles(dir);
    assert.deepEqual(listed.map((f) => f.name), [`ünï cødé 'x'.txt`]);
    assert.equal((await sandbox.fs.getFileDetails(file)).size, 3);
    assert.equal(await sh(`cat 'odd names/a+b & "c"/ünï cødé '"'"'x'"'"'.txt'`), 'odd');
    await sandbox.fs.moveFiles(file, `${dir}/plain.txt`);
    assert.equal((await sandbox.fs.downloadFile(`${dir}/plain.txt`)).toString(), 'odd');
    await sandbox.fs.deleteFile('odd names', true);
    assert.equal(await sh('test -e "odd names" && echo yes || echo no'), 'no\n');
  });

  test('uploadFiles (buffers and a local path, parents created) and downloadFiles (buffers, local paths, errors)', async () => {
    const localSrc = join(local, 'local-source.json');
    await writeFile(localSrc, '{"from":"disk"}');
    await sandbox.fs.uploadFiles([
      { source: Buffer.from('one'), destination: 'multi/deep/er/one.txt' },
      { source: localSrc, destination: 'multi/two.json' },
      { source: Buffer.from([0, 255, 1, 254]), destination: `${workDir}/multi/three.bin` },
    ]);
    const localDst = join(local, 'two-back.json');
    const results = await sandbox.fs.downloadFiles([
      { source: 'multi/deep/er/one.txt' },
      { source: 'multi/two.json', destination: localDst },
      { source: 'multi/three.bin' },
      { source: 'multi/missing.txt' },
    ]);
    const by = new Map(results.map((r) => [r.source, r]));
    assert.equal(results.length, 4);
    assert.equal((by.get('multi/deep/er/one.txt')!.result as Buffer).toString(), 'one');
    assert.equal(by.get('multi/deep/er/one.txt')!.error, undefined);
    assert.equal(by.get('multi/two.json')!.result, localDst);
    assert.equal(await readFile(localDst, 'utf8'), '{"from":"disk"}');
    assert.deepEqual([...(by.get('multi/three.bin')!.result as Buffer)], [0, 255, 1, 254]);
    const missing = by.get('multi/missing.txt')!;
    assert.ok(missing.error && /not found|no such/i.test(missing.error), `missing file error: ${missing.error}`);
    assert.ok(!missing.result, 'a missing file has no result');
  });

  test('downloadFile of a missing file rejects with a clear message', async () => {
    await assert.rejects(sandbox.fs.downloadFile('no/such/file.txt'), (err: Error) => {
      assert.ok(err instanceof DaytonaError);
      assert.match(err.message, /no\/such\/file\.txt/);
      return true;
    });
  });

  test('a 200 MB file streams from disk, through API, runner and toolbox, and back to disk unchanged', async () => {
    const size = 200 * 1024 * 1024;
    const src = join(local, 'big-src.bin');
    const dst = join(local, 'big-dst.bin');
    const digest = await writeRandomFile(src, size);
    const apiPid = platform.api.pid!;
    const runnerPid = platform.runners[0]!.process.pid!;
    await resetPeakRss(apiPid);
    await resetPeakRss(runnerPid);
    const apiBefore = await peakRssKiB(apiPid);
    const runnerBefore = await peakRssKiB(runnerPid);

    await sandbox.fs.uploadFile(src, 'big/big.bin');
    const [remoteHash, remoteSize] = (await sh('sha256sum big/big.bin | cut -d" " -f1; stat -c %s big/big.bin')).trim().split('\n');
    assert.equal(remoteSize, String(size));
    assert.equal(remoteHash, digest);
    assert.equal((await sandbox.fs.getFileDetails('big/big.bin')).size, size);

    await rm(src);
    await sandbox.fs.downloadFile('big/big.bin', dst);
    assert.equal((await stat(dst)).size, size);
    assert.equal(await sha256File(dst), digest);
    await rm(dst);

    // Streaming means the proxies' peak memory grows by far less than the file; buffering would add >= 200 MiB.
    const apiGrowth = (await peakRssKiB(apiPid)) - apiBefore;
    const runnerGrowth = (await peakRssKiB(runnerPid)) - runnerBefore;
    assert.ok(apiGrowth < 100 * 1024, `API peak RSS grew by ${Math.round(apiGrowth / 1024)} MiB during a 200 MiB transfer`);
    assert.ok(runnerGrowth < 100 * 1024, `runner peak RSS grew by ${Math.round(runnerGrowth / 1024)} MiB during a 200 MiB transfer`);
    await sandbox.fs.deleteFile('big/big.bin');
  });

  test('the API and runner that carried it run with the data-path Node flags (service-node-flags.ts)', async () => {
    for (const [name, pid] of [['api', platform.api.pid!], ['runner', platform.runners[0]!.process.pid!]] as const) {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      // The flag the README tells operators to pass, by name: an emptied list must not pass here.
      for (const flag of ['--single-threaded-gc', ...SERVICE_NODE_FLAGS]) assert.ok(argv.includes(flag), `${name} runs without ${flag}: ${argv.join(' ')}`);
    }
  });

  test('createFolder applies the mode; getFileDetails and listFiles report every field', async () => {
    await sandbox.fs.createFolder('made/with-mode', '750');
    const uid = (await sh('id -u')).trim();
    const gid = (await sh('id -g')).trim();
    const dir = await sandbox.fs.getFileDetails('made/with-mode');
    assert.equal(dir.isDir, true);
    assert.equal(dir.name, 'with-mode');
    assert.equal(dir.permissions, '0750');
    assert.match(dir.mode, /^d/);
    assert.equal(await sh('stat -c %a made/with-mode'), '750\n');
    await sandbox.fs.uploadFile(Buffer.from('12345'), 'made/with-mode/five.txt');
    const [entry] = await sandbox.fs.listFiles('made/with-mode');
    assert.ok(entry);
    assert.equal(entry.name, 'five.txt');
    assert.equal(entry.isDir, false);
    assert.equal(entry.size, 5);
    assert.ok(entry.owner === uid || entry.owner === (await sh('id -un')).trim(), `owner ${entry.owner}`);
    assert.ok(entry.group === gid || entry.group === (await sh('id -gn')).trim(), `group ${entry.group}`);
    assert.match(entry.mode, /^-rw/);
    assert.match(entry.permissions, /^0?[0-7]{3}$/);
    assert.ok(entry.modTime.length > 0);
  });

  test('setFilePermissions changes mode, owner and group', async () => {
    await sandbox.fs.uploadFile(Buffer.from('#!/bin/sh\necho ran\n'), 'perm/run.sh');
    const user = (await sh('id -un')).trim();
    const group = (await sh('id -gn')).trim();
    await sandbox.fs.setFilePermissions('perm/run.sh', { mode: '755' });
    assert.equal(await sh('stat -c %a perm/run.sh'), '755\n');
    assert.equal(await sh('./perm/run.sh'), 'ran\n');
    await sandbox.fs.setFilePermissions('perm/run.sh', { owner: user, group, mode: '640' });
    assert.equal(await sh('stat -c "%a %U %G" perm/run.sh'), `640 ${user} ${group}\n`);
    assert.equal((await sandbox.fs.getFileDetails('perm/run.sh')).permissions, '0640');
  });

  test('moveFiles renames files and directories', async () => {
    await sandbox.fs.uploadFile(Buffer.from('moving'), 'mv/src/file.txt');
    await sandbox.fs.moveFiles('mv/src/file.txt', 'mv/src/renamed.txt');
    await sandbox.fs.moveFiles('mv/src', 'mv/dst');
    assert.equal((await sandbox.fs.downloadFile('mv/dst/renamed.txt')).toString(), 'moving');
    assert.deepEqual((await sandbox.fs.listFiles('mv')).map((f) => f.name), ['dst']);
  });

  test('findFiles greps content, searchFiles globs names, replaceInFiles edits and reports per file', async () => {
    await sandbox.fs.uploadFiles([
      { source: Buffer.from('alpha\nvar obj1 = new Base();\nomega\n'), destination: 'code/a.ts' },
      { source: Buffer.from('{"k": "var obj1 = new Base();"}\n'), destination: 'code/sub/b.json' },
      { source: Buffer.from('{"other": true}\n'), destination: 'code/sub/c.json' },
    ]);
    const matches = await sandbox.fs.findFiles('code', 'var obj1 = new Base();');
    const found = matches.map((m) => `${m.file}:${m.line}`).sort();
    assert.equal(found.length, 2);
    assert.match(found[0]!, /code\/a\.ts:2$/);
    assert.match(found[1]!, /code\/sub\/b\.json:1$/);
    assert.equal(matches.find((m) => m.file.endsWith('a.ts'))!.content, 'var obj1 = new Base();');

    const search = await sandbox.fs.searchFiles('code', '*.json');
    assert.deepEqual(search.files.map((f) => f.replace(/^.*code\//, 'code/')).sort(), ['code/sub/b.json', 'code/sub/c.json']);
    assert.deepEqual((await sandbox.fs.searchFiles('code', '*.nothing')).files, []);

    const replaced = await sandbox.fs.replaceInFiles(['code/a.ts', 'code/sub/b.json', 'code/missing.ts'], 'new Base()', 'new Derived()');
    assert.equal(replaced.length, 3);
    const ok = replaced.filter((r) => r.success);
    assert.deepEqual(ok.map((r) => r.file).sort(), ['code/a.ts', 'code/sub/b.json']);
    const bad = replaced.find((r) => r.file === 'code/missing.ts');
    assert.ok(bad && bad.success === false && bad.error, `missing file result: ${JSON.stringify(bad)}`);
    assert.equal(await sh('cat code/a.ts'), 'alpha\nvar obj1 = new Derived();\nomega\n');
    assert.equal((await sandbox.fs.findFiles('code', 'new Base()')).length, 0);
  });

  test('deleteFile removes a file, refuses a non-empty directory without recursive, removes it with recursive', async () => {
    await sandbox.fs.uploadFile(Buffer.from('x'), 'del/inner/x.txt');
    await sandbox.fs.deleteFile('del/inner/x.txt');
    assert.equal(await sh('ls -A del/inner | wc -l'), '0\n');
    await sandbox.fs.uploadFile(Buffer.from('y'), 'del/inner/y.txt');
    await assert.rejects(sandbox.fs.deleteFile('del'), DaytonaError);
    assert.equal(await sh('cat del/inner/y.txt'), 'y');
    await sandbox.fs.deleteFile('del', true);
    await assert.rejects(sandbox.fs.getFileDetails('del'), isNotFound);
  });
});

describe('toolbox fs bad input', () => {
  const alive = async () => assert.equal((await sandbox.process.executeCommand('echo alive')).result, 'alive\n');

  test('paths that do not exist: 404 envelopes, DaytonaNotFoundError in the SDK', async () => {
    for (const path of ['files/info?path=nope%2Fmissing', 'files?path=nope%2Fmissing']) {
      assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', path), 404, /nope\/missing/);
    }
    assertClientError(await toolboxRaw(platform, sandbox.id, 'DELETE', 'files?path=nope%2Fmissing'), 404);
    assertClientError(await toolboxRaw(platform, sandbox.id, 'POST', 'files/move?source=nope%2Fa&destination=nope%2Fb'));
    assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', 'files/search?path=nope&pattern=*'));
    assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', 'files/find?path=nope&pattern=x'));
    await assert.rejects(sandbox.fs.getFileDetails('nope/missing'), isNotFound);
    await assert.rejects(sandbox.fs.listFiles('nope/missing'), isNotFound);
    await assert.rejects(sandbox.fs.setFilePermissions('nope/missing', { mode: '644' }), DaytonaError);
    await alive();
  });

  test('missing required parameters are 400s', async () => {
    assertClientError(await toolboxRaw(platform, sandbox.id, 'GET', 'files/info'), 400);
    assertClientError(await toolboxRaw(platform, sandbox.id, 'POST', 'files/folder?path=x&mode=9z9'), 400);
    assertClientError(
      await toolboxRaw(platform, sandbox.id, 'POST', 'files/bulk-download', {
        body: '{"paths": "not-an-array"}',
        headers: { 'content-type': 'application/json' },
      }),
      400,
    );
    await alive();
  });

  test('malformed multipart uploads are 400s, leave no partial file and never clobber an existing one', async () => {
    await sandbox.fs.uploadFile(Buffer.from('intact'), 'broken/a.txt');
    const boundary = 'shoal-broken-boundary';
    const cases: Array<[string, string | Buffer, string]> = [
      ['not multipart', '{"files": []}', 'application/json'],
      ['no boundary', 'whatever', 'multipart/form-data'],
      [
        'truncated body',
        `--${boundary}\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\nbroken/a.txt\r\n--${boundary}\r\nContent-Disposition: form-data; name="files[0].file"; filename="a.txt"\r\n\r\npartial`,
        `multipart/form-data; boundary=${boundary}`,
      ],
      [
        'file part without a path field',
        `--${boundary}\r\nContent-Disposition: form-data; name="files[0].file"; filename="a.txt"\r\n\r\nbody\r\n--${boundary}--\r\n`,
        `multipart/form-data; boundary=${boundary}`,
      ],
      ['garbage', randomBytes(4096), `multipart/form-data; boundary=${boundary}`],
    ];
    for (const [name, body, type] of cases) {
      const res = await toolboxRaw(platform, sandbox.id, 'POST', 'files/bulk-upload', { body, headers: { 'content-type': type } });
      assert.ok(res.status >= 400 && res.status < 500, `${name}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
      assert.ok(res.text.length > 0, `${name}: empty error body`);
      await alive();
    }
    assert.equal(await sh('cat broken/a.txt'), 'intact');
    assert.equal(await sh('ls -A broken'), 'a.txt\n', 'no partial or temporary file is left');
    assert.equal(await sh('test -e a.txt && echo yes || echo no'), 'no\n');
  });
});
