// Build contexts are tenant data (issue 11 "Bad input"): extraction into the context root must never write outside it,
// follow a symlink, create a device node or a setuid file, and must stop a tar bomb at its caps. Tars are written
// byte by byte here so each hostile shape is exactly what a malicious uploader could send.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildContextError, extractContexts } from '../src/images/build-context.js';

interface Entry {
  name: string;
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x';
  body?: string | Buffer;
  link?: string;
  mode?: number;
  /** Declared size when it differs from the body (a lying header). */
  size?: number;
}

function header(e: Entry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name.slice(0, 100), 0, 'utf8');
  h.write(((e.mode ?? 0o644) & 0o7777).toString(8).padStart(7, '0') + '\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write(e.type ?? '0', 156, 'latin1');
  if (e.link) h.write(e.link, 157, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

function tar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
    parts.push(header(e, e.size ?? body.length));
    parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function paxEntry(name: string, records: Record<string, string>): Entry {
  let body = '';
  for (const [k, v] of Object.entries(records)) {
    const rec = ` ${k}=${v}\n`;
    let len = rec.length + 1;
    while (`${len}${rec}`.length !== len) len = `${len}${rec}`.length;
    body += `${len}${rec}`;
  }
  return { name, type: 'x', body };
}

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-build-ctx-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function extract(tars: Entry[][], limits?: { maxBytes: number; maxEntries: number }): Promise<{ root: string; outside: string }> {
  const work = join(dir, `case-${n++}`);
  const outside = join(work, 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'secret'), 'host secret');
  const files: string[] = [];
  for (const [i, t] of tars.entries()) {
    const f = join(work, `ctx-${i}.tar`);
    await writeFile(f, tar(t));
    files.push(f);
  }
  const root = join(work, 'root');
  await extractContexts(files, root, limits);
  return { root, outside };
}

async function rejects(tars: Entry[][], pattern: RegExp, limits?: { maxBytes: number; maxEntries: number }): Promise<string> {
  const work = join(dir, `case-${n}`);
  await assert.rejects(extract(tars, limits), (err: Error) => {
    assert.ok(err instanceof BuildContextError, `expected BuildContextError, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
  // Nothing of a refused context is left, and nothing next to it was touched.
  await assert.rejects(stat(join(work, 'root')));
  assert.equal(await readFile(join(work, 'outside', 'secret'), 'utf8'), 'host secret');
  assert.deepEqual((await readdir(join(work, 'outside'))).sort(), ['secret']);
  return work;
}

test('a normal context: files, directories, absolute names under the root, in-context symlinks, several tars merged in order', async () => {
  const { root } = await extract([
    [
      { name: 'app/', type: '5', mode: 0o755 },
      { name: 'app/main.py', body: 'print(1)\n', mode: 0o755 },
      { name: '/abs/dir/file.txt', body: 'absolute' },
      { name: 'app/link', type: '2', link: 'main.py' },
      { name: 'app/hard', type: '1', link: 'app/main.py' },
      { name: 'suid', body: 'x', mode: 0o4755 },
    ],
    [{ name: 'app/main.py', body: 'print(2)\n' }],
  ]);
  assert.equal(await readFile(join(root, 'app/main.py'), 'utf8'), 'print(2)\n');
  assert.equal(await readFile(join(root, 'abs/dir/file.txt'), 'utf8'), 'absolute');
  assert.equal(await readlink(join(root, 'app/link')), 'main.py');
  assert.equal(await readFile(join(root, 'app/hard'), 'utf8'), 'print(1)\n');
  assert.equal((await lstat(join(root, 'app/hard'))).nlink, 1, 'a hard link becomes a copy');
  assert.equal((await stat(join(root, 'suid'))).mode & 0o7777, 0o755, 'setuid is dropped');
});

test('long names through pax headers are honoured and still checked', async () => {
  const long = `${'d'.repeat(120)}/f.txt`;
  const { root } = await extract([[paxEntry('PaxHeader', { path: long }), { name: 'short', body: 'pax' }]]);
  assert.equal(await readFile(join(root, long), 'utf8'), 'pax');
  await rejects([[paxEntry('PaxHeader', { path: `a/../../${'x'.repeat(120)}` }), { name: 'harmless', body: 'x' }]], /escapes the context/);
});

test('path traversal with .. is refused', async () => {
  await rejects([[{ name: '../outside/secret', body: 'overwritten' }]], /escapes the context/);
  await rejects([[{ name: 'a/../../outside/pwn', body: 'x' }]], /escapes the context/);
});

test('a symlink pointing out of the context is refused, absolute or relative', async () => {
  await rejects([[{ name: 'l', type: '2', link: '/etc' }]], /points outside the context/);
  await rejects([[{ name: 'a/l', type: '2', link: '../../outside' }]], /points outside the context/);
});

test('a file written through an earlier symlink is refused (never followed), even across tars', async () => {
  // The symlink target is inside the context, so the link itself is allowed; writing through it is not.
  await rejects([[{ name: 'd/', type: '5' }, { name: 'l', type: '2', link: 'd' }, { name: 'l/x', body: 'via link' }]], /non-directory/);
  await rejects([[{ name: 'd/', type: '5' }, { name: 'l', type: '2', link: 'd' }], [{ name: 'l/x', body: 'via link' }]], /non-directory/);
});

test('a symlink replaced by a file does not write through the symlink', async () => {
  const { root, outside } = await extract([[{ name: 'f', type: '2', link: 'g' }, { name: 'f', body: 'plain' }]]);
  assert.equal((await lstat(join(root, 'f'))).isFile(), true);
  assert.equal(await readFile(join(root, 'f'), 'utf8'), 'plain');
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'host secret');
});

test('a symlink planted on disk inside the root by a previous extraction is not followed', async () => {
  // Defence in depth: even if the root held a symlink out, a directory entry through it is refused.
  const work = join(dir, 'planted');
  await mkdir(join(work, 'outside'), { recursive: true });
  const f = join(work, 'c.tar');
  await writeFile(f, tar([{ name: 'd', type: '2', link: 'e' }, { name: 'd/x', body: 'x' }]));
  await assert.rejects(extractContexts([f], join(work, 'root')), /non-directory/);
  assert.deepEqual(await readdir(join(work, 'outside')), []);
});

test('device nodes and FIFOs are refused', async () => {
  await rejects([[{ name: 'null', type: '3' }]], /character device/);
  await rejects([[{ name: 'sda', type: '4' }]], /block device/);
  await rejects([[{ name: 'fifo', type: '6' }]], /FIFO/);
});

test('a hard link to something outside the context (or not yet extracted) is refused', async () => {
  await rejects([[{ name: 'h', type: '1', link: '../outside/secret' }]], /escapes the context/);
  await rejects([[{ name: 'h', type: '1', link: '/etc/shadow' }]], /not a file of the context/);
  await rejects([[{ name: 'l', type: '2', link: 'x' }, { name: 'h', type: '1', link: 'l' }]], /not a file of the context/);
});

test('tar bombs stop at the byte and entry caps, across tars', async () => {
  await rejects([[{ name: 'big', body: Buffer.alloc(4096) }]], /larger than 1000 bytes/, { maxBytes: 1000, maxEntries: 100 });
  await rejects([[{ name: 'a', body: Buffer.alloc(600) }], [{ name: 'b', body: Buffer.alloc(600) }]], /larger than 1000 bytes/, {
    maxBytes: 1000,
    maxEntries: 100,
  });
  const many = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: '' }));
  await rejects([many], /more than 10 entries/, { maxBytes: 1000, maxEntries: 10 });
  // A header claiming more data than the file holds is refused before anything is read.
  await rejects([[{ name: 'liar', body: 'x', size: 10 * 1024 ** 3 }]], /truncated|larger than/);
});
