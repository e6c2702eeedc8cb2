import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import FormData from 'form-data';
import { useToolbox } from './harness.js';

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

describe('toolbox files', () => {
  const ctx = useToolbox();

  it('lists the working directory for /files and /files/ with Go-style FileInfo', async () => {
    writeFileSync(join(ctx.tb.workdir, 'a.txt'), 'hello');
    mkdirSync(join(ctx.tb.workdir, 'sub'));
    for (const path of ['/files', '/files/', '/files?path=.', `/files/?path=${encodeURIComponent(ctx.tb.workdir)}`]) {
      const res = await ctx.tb.http('GET', path);
      assert.equal(res.status, 200, path);
      const list = res.json();
      const file = list.find((f: { name: string }) => f.name === 'a.txt');
      assert.equal(file.size, 5);
      assert.equal(file.isDir, false);
      assert.match(file.mode, /^-rw-/);
      assert.match(file.permissions, /^0[0-7]{3}$/);
      assert.match(file.modTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$/);
      assert.equal(file.owner, String(process.getuid?.()));
      const dir = list.find((f: { name: string }) => f.name === 'sub');
      assert.equal(dir.isDir, true);
      assert.match(dir.mode, /^drwx/);
    }
  });

  it('answers 404 with the envelope for a path that does not exist, and keeps serving', async () => {
    const res = await ctx.tb.http('GET', '/files?path=nope/nothing');
    assert.equal(res.status, 404);
    const body = res.json();
    assert.equal(body.statusCode, 404);
    assert.equal(body.error, 'Not Found');
    assert.match(body.message, /nope\/nothing/);
    assert.equal(body.path, '/files');
    assert.ok(body.timestamp);
    assert.equal((await ctx.tb.http('GET', '/files/info?path=nope')).status, 404);
    assert.equal((await ctx.tb.http('GET', '/version')).status, 200);
  });

  it('round-trips binary bytes exactly through the SDK upload and download', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 1, 2, 255, 254, 13, 10]), randomBytes(300_000)]);
    await ctx.api.sandbox.fs.uploadFile(bytes, 'deep/nested/dir/blob.bin');
    assert.ok(readFileSync(join(ctx.tb.workdir, 'deep/nested/dir/blob.bin')).equals(bytes));
    const back = await ctx.api.sandbox.fs.downloadFile('deep/nested/dir/blob.bin');
    assert.ok(Buffer.isBuffer(back));
    assert.ok(back.equals(bytes));
    const empty = Buffer.alloc(0);
    await ctx.api.sandbox.fs.uploadFile(empty, 'empty.bin');
    assert.equal((await ctx.api.sandbox.fs.downloadFile('empty.bin')).length, 0);
  });

  it('streams a large file (64 MiB) both ways without changing a byte', async () => {
    const source = join(ctx.tb.dir, 'large-source.bin');
    const chunk = randomBytes(1024 * 1024);
    await pipeline(
      Readable.from((function* () {
        for (let i = 0; i < 64; i++) yield Buffer.concat([chunk, Buffer.from([i])]).subarray(1);
      })()),
      createWriteStream(source),
    );
    const expected = await sha256File(source);
    await ctx.api.sandbox.fs.uploadFile(source, 'large/target.bin');
    assert.equal(await sha256File(join(ctx.tb.workdir, 'large/target.bin')), expected);
    const local = join(ctx.tb.dir, 'large-back.bin');
    await ctx.api.sandbox.fs.downloadFile('large/target.bin', local);
    assert.equal(await sha256File(local), expected);
  });

  it('bulk-downloads with exact filenames, error parts for missing files, and odd names', async () => {
    writeFileSync(join(ctx.tb.workdir, 'one.txt'), 'one');
    writeFileSync(join(ctx.tb.workdir, 'spa ce "q".txt'), 'quoted');
    writeFileSync(join(ctx.tb.workdir, 'ünï.txt'), 'unicode');
    const results = await ctx.api.sandbox.fs.downloadFiles([
      { source: 'one.txt' },
      { source: join(ctx.tb.workdir, 'one.txt') },
      { source: 'spa ce "q".txt' },
      { source: 'ünï.txt' },
      { source: 'missing.txt' },
      { source: 'sub' },
    ]);
    assert.equal(results[0]?.result?.toString(), 'one');
    assert.equal(results[1]?.result?.toString(), 'one');
    assert.equal(results[2]?.result?.toString(), 'quoted');
    assert.equal(results[3]?.result?.toString(), 'unicode');
    assert.match(results[4]?.error ?? '', /file not found or invalid: .*missing\.txt/);
    assert.match(results[5]?.error ?? '', /is a directory/);
    await assert.rejects(ctx.api.sandbox.fs.downloadFile('missing.txt'), /missing\.txt/);

    const raw = await ctx.tb.http('POST', '/files/bulk-download', { json: { paths: ['one.txt'] } });
    assert.equal(raw.status, 200);
    const type = String(raw.headers['content-type']);
    assert.match(type, /^multipart\/form-data; boundary=DAYTONA-FILE-BOUNDARY/);
    const boundary = type.split('boundary=')[1];
    assert.equal(
      raw.text,
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="one.txt"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\none\r\n--${boundary}--\r\n`,
    );
    assert.equal((await ctx.tb.http('POST', '/files/bulk-download', { json: { paths: [] } })).status, 400);
    assert.equal((await ctx.tb.http('POST', '/files/bulk-download', { json: {} })).status, 400);
  });

  it('bulk-uploads several files from a chunked form, taking destinations from files[i].path', async () => {
    await ctx.api.sandbox.fs.uploadFiles([
      { source: Buffer.from('{"a":1}'), destination: 'cfg/a.json' },
      { source: Buffer.from('b'), destination: join(ctx.tb.workdir, 'cfg/other/b.txt') },
    ]);
    assert.equal(readFileSync(join(ctx.tb.workdir, 'cfg/a.json'), 'utf8'), '{"a":1}');
    assert.equal(readFileSync(join(ctx.tb.workdir, 'cfg/other/b.txt'), 'utf8'), 'b');
  });

  it('rejects malformed multipart and a file part without its path with a 4xx, and keeps serving', async () => {
    const malformed = await ctx.tb.http('POST', '/files/bulk-upload', {
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: '--XYZ\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\nx.txt\r\n--XYZ\r\nContent-Disp',
    });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json().statusCode, 400);
    const notMultipart = await ctx.tb.http('POST', '/files/bulk-upload', { json: { a: 1 } });
    assert.equal(notMultipart.status, 400);

    const form = new FormData();
    form.append('files[0].file', Buffer.from('orphan'), 'orphan.txt');
    const orphan = await ctx.tb.http('POST', '/files/bulk-upload', {
      headers: form.getHeaders(),
      body: form.getBuffer(),
    });
    assert.equal(orphan.status, 400);
    assert.match(orphan.json().errors[0], /files\[0\]\.path/);
    assert.equal((await ctx.tb.http('GET', '/version')).status, 200);
  });

  it('a truncated upload leaves no partial file and keeps the file it would have replaced', async () => {
    mkdirSync(join(ctx.tb.workdir, 'atomic'), { recursive: true });
    writeFileSync(join(ctx.tb.workdir, 'atomic/keep.txt'), 'original');
    const part = (i: number, path: string) =>
      `--XYZ\r\nContent-Disposition: form-data; name="files[${i}].path"\r\n\r\n${path}\r\n` +
      `--XYZ\r\nContent-Disposition: form-data; name="files[${i}].file"; filename="x"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    for (const path of ['atomic/keep.txt', 'atomic/new.txt']) {
      const res = await ctx.tb.http('POST', '/files/bulk-upload', {
        headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
        body: `${part(0, path)}partial bytes without the closing boundary`,
      });
      assert.equal(res.status, 400, path);
    }
    assert.equal(readFileSync(join(ctx.tb.workdir, 'atomic/keep.txt'), 'utf8'), 'original');
    assert.deepEqual(readdirSync(join(ctx.tb.workdir, 'atomic')), ['keep.txt'], 'no partial or temporary file is left');

    // A complete upload replaces the content in place and keeps the replaced file's mode.
    chmodSync(join(ctx.tb.workdir, 'atomic/keep.txt'), 0o751);
    await ctx.api.sandbox.fs.uploadFile(Buffer.from('replaced'), 'atomic/keep.txt');
    assert.equal(readFileSync(join(ctx.tb.workdir, 'atomic/keep.txt'), 'utf8'), 'replaced');
    assert.equal(statSync(join(ctx.tb.workdir, 'atomic/keep.txt')).mode & 0o7777, 0o751);
    assert.deepEqual(readdirSync(join(ctx.tb.workdir, 'atomic')), ['keep.txt']);
  });

  it('a file that fails while being written (disk full) is reported, the rest of the form still lands', async () => {
    // A write error used to destroy busboy's part stream; busboy then waited for a read that never came, and the request
    // hung until the API's proxy gave up (600 s). A tmpfs of 64 KiB gives the ENOSPC partway through the part.
    const full = join(ctx.tb.workdir, 'tiny');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'shoal-test-tiny', full]);
    try {
      const form = new FormData();
      form.append('files[0].path', 'tiny/big.bin');
      form.append('files[0].file', randomBytes(1 << 20), 'big.bin');
      form.append('files[1].path', 'after/small.txt');
      form.append('files[1].file', Buffer.from('small'), 'small.txt');
      const answer = ctx.tb.http('POST', '/files/bulk-upload', { headers: form.getHeaders(), body: form.getBuffer() });
      const res = await Promise.race([answer, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref())]);
      assert.equal(res.status, 400);
      assert.match(res.json().errors[0], /tiny\/big\.bin/);
      assert.equal(readFileSync(join(ctx.tb.workdir, 'after/small.txt'), 'utf8'), 'small');
      assert.deepEqual(readdirSync(full), [], 'no partial or temporary file is left');
      const single = new FormData();
      single.append('file', randomBytes(1 << 20), 'big.bin');
      const one = ctx.tb.http('POST', '/files/upload?path=tiny%2Fone.bin', { headers: single.getHeaders(), body: single.getBuffer() });
      const oneRes = await Promise.race([one, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref())]);
      assert.equal(oneRes.status, 400);
      assert.equal((await ctx.tb.http('GET', '/version')).status, 200);
    } finally {
      execFileSync('umount', ['-l', full]);
    }
  });

  it('uploads one file through /files/upload and downloads it through /files/download', async () => {
    const form = new FormData();
    form.append('file', Buffer.from('single'), 'whatever.txt');
    const up = await ctx.tb.http('POST', '/files/upload?path=single%2Fs.txt', { headers: form.getHeaders(), body: form.getBuffer() });
    assert.equal(up.status, 200);
    const down = await ctx.tb.http('GET', '/files/download?path=single/s.txt');
    assert.equal(down.status, 200);
    assert.equal(down.text, 'single');
    assert.match(String(down.headers['content-disposition']), /attachment; filename="s.txt"/);
  });

  it('creates folders with the exact mode, moves, sets permissions, deletes', async () => {
    await ctx.api.sandbox.fs.createFolder('made/here', '750');
    assert.equal(statSync(join(ctx.tb.workdir, 'made/here')).mode & 0o777, 0o750);
    const info = await ctx.api.sandbox.fs.getFileDetails('made/here');
    assert.equal(info.permissions, '0750');
    assert.equal(info.isDir, true);

    writeFileSync(join(ctx.tb.workdir, 'made/m.txt'), 'm');
    await ctx.api.sandbox.fs.moveFiles('made/m.txt', 'made/here/moved.txt');
    assert.ok(existsSync(join(ctx.tb.workdir, 'made/here/moved.txt')));
    writeFileSync(join(ctx.tb.workdir, 'made/taken.txt'), 't');
    const conflict = await ctx.tb.http('POST', '/files/move?source=made%2Ftaken.txt&destination=made%2Fhere%2Fmoved.txt');
    assert.equal(conflict.status, 409);
    assert.equal((await ctx.tb.http('POST', '/files/move?source=nothing&destination=x')).status, 404);

    await ctx.api.sandbox.fs.setFilePermissions('made/here/moved.txt', { mode: '600' });
    assert.equal(statSync(join(ctx.tb.workdir, 'made/here/moved.txt')).mode & 0o777, 0o600);
    const uid = String(process.getuid?.());
    await ctx.api.sandbox.fs.setFilePermissions('made/here/moved.txt', { owner: uid, group: String(process.getgid?.()) });
    assert.equal((await ctx.tb.http('POST', '/files/permissions?path=made&mode=9z')).status, 400);

    const refused = await ctx.tb.http('DELETE', '/files?path=made');
    assert.equal(refused.status, 400);
    await ctx.api.sandbox.fs.deleteFile('made', true);
    assert.equal(existsSync(join(ctx.tb.workdir, 'made')), false);
    assert.equal((await ctx.tb.http('DELETE', '/files?path=made')).status, 404);
  });

  it('finds content, searches names by glob, and replaces in files', async () => {
    mkdirSync(join(ctx.tb.workdir, 'src/inner'), { recursive: true });
    writeFileSync(join(ctx.tb.workdir, 'src/a.ts'), 'let x = 1;\nvar obj1 = new Base();\n');
    writeFileSync(join(ctx.tb.workdir, 'src/inner/b.ts'), 'var obj1 = new Base();\n');
    writeFileSync(join(ctx.tb.workdir, 'src/inner/c.json'), '{}');
    writeFileSync(join(ctx.tb.workdir, 'src/bin.dat'), Buffer.from([0, 1, 2, 0x76, 0x61, 0x72, 0x20, 0x6f, 0x62, 0x6a, 0x31]));
    const matches = await ctx.api.sandbox.fs.findFiles('src', 'var obj1 = new Base();');
    assert.deepEqual(
      matches.map((m) => [m.file, m.line, m.content]).sort(),
      [
        ['src/a.ts', 2, 'var obj1 = new Base();'],
        ['src/inner/b.ts', 1, 'var obj1 = new Base();'],
      ],
    );
    const found = await ctx.api.sandbox.fs.searchFiles('src', '*.json');
    assert.deepEqual(found.files, ['src/inner/c.json']);
    assert.equal((await ctx.tb.http('GET', '/files/search?path=src&pattern=%5Bab')).status, 400);

    const results = await ctx.api.sandbox.fs.replaceInFiles(['src/a.ts', 'src/none.ts'], 'new Base()', 'new Derived()');
    assert.deepEqual(results[0], { file: 'src/a.ts', success: true });
    assert.equal(results[1]?.success, false);
    assert.match(results[1]?.error ?? '', /no such file/);
    assert.match(readFileSync(join(ctx.tb.workdir, 'src/a.ts'), 'utf8'), /var obj1 = new Derived\(\);/);
  });

  it('rejects missing query parameters and unknown routes with clear 4xx envelopes', async () => {
    const missing = await ctx.tb.http('GET', '/files/info');
    assert.equal(missing.status, 400);
    assert.match(missing.json().message, /path is required/);
    const unknown = await ctx.tb.http('GET', '/no/such/route');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().statusCode, 404);
    const badJson = await ctx.tb.http('POST', '/files/replace', { headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(badJson.status, 400);
    assert.match(badJson.json().message, /not valid JSON/);
    // LSP and computer use exist now (issue 14): their bad input is a 4xx envelope too, never a 501 or a 5xx.
    const lsp = await ctx.tb.http('POST', '/lsp/start', { json: { languageId: 'cobol', pathToProject: '.' } });
    assert.equal(lsp.status, 400);
    assert.equal(lsp.json().statusCode, 400);
    const early = await ctx.tb.http('POST', '/lsp/did-open', { json: { languageId: 'python', pathToProject: '.', uri: 'file://a.py' } });
    assert.equal(early.status, 400);
    assert.match(early.json().message, /lsp\/start/);
  });
});
