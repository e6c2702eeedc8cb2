// A sandbox's writable layer survives pack + restore onto another uid range (files, modes, owners, symlinks, hard
// links, overlay whiteouts and opaque directories, checked through a real overlay mount), and a restore treats the
// stored archive as hostile: every shape below is refused and nothing outside the target directory is touched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { exec } from '../src/util/exec.js';
import { packTo, restoreTar } from '../src/sandbox/sandbox-archive.js';
import { LayerArchiveError, rawEntry, TAR_END } from '../src/sandbox/layer-tar.js';

const SRC_BASE = 300_000;
const DST_BASE = 500_000;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'shoal-archive-'));
});
after(async () => {
  await exec('umount', [join(root, 'merged')], { allowFailure: true });
  await exec('umount', [join(root, 'merged2')], { allowFailure: true });
  await rm(root, { recursive: true, force: true });
});

async function overlay(lower: string, upper: string, work: string, merged: string): Promise<void> {
  await mkdir(work, { recursive: true });
  await mkdir(merged, { recursive: true });
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
}

function zstdDecompress(file: string): Readable {
  const z = spawn('zstd', ['-d', '-q', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  return z.stdout;
}

test('pack + restore keeps files, modes, owners, symlinks, hard links, whiteouts and opaque directories', async () => {
  const lower = join(root, 'lower');
  const upper = join(root, 'upper');
  const merged = join(root, 'merged');
  await mkdir(join(lower, 'gone-dir'), { recursive: true });
  await mkdir(join(lower, 'opaque'), { recursive: true });
  await writeFile(join(lower, 'deleted.txt'), 'from the image');
  await writeFile(join(lower, 'gone-dir/a'), 'a');
  await writeFile(join(lower, 'opaque/hidden'), 'lower only');
  await mkdir(upper);
  await chown(upper, SRC_BASE, SRC_BASE);
  await overlay(lower, upper, join(root, 'work'), merged);
  // What a sandbox does (as root of its range): write, chmod, chown, link, delete lower files, replace a lower dir.
  await writeFile(join(merged, 'data.bin'), Buffer.alloc(300_000, 7));
  await chmod(join(merged, 'data.bin'), 0o640);
  await chown(join(merged, 'data.bin'), SRC_BASE + 1000, SRC_BASE + 1001);
  await mkdir(join(merged, 'home/daytona/.cache'), { recursive: true });
  await chown(join(merged, 'home/daytona'), SRC_BASE + 1000, SRC_BASE + 1000);
  await writeFile(join(merged, 'home/daytona/script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(merged, 'home/daytona/script.sh'), 0o4755);
  await symlink('../../data.bin', join(merged, 'home/daytona/link'));
  await symlink('/etc/shadow', join(merged, 'home/daytona/abs-link'));
  await link(join(merged, 'data.bin'), join(merged, 'home/daytona/hard'));
  await unlink(join(merged, 'deleted.txt'));
  await rm(join(merged, 'gone-dir'), { recursive: true });
  await rm(join(merged, 'opaque'), { recursive: true });
  await mkdir(join(merged, 'opaque'));
  await writeFile(join(merged, 'opaque/new'), 'upper');
  await exec('umount', [merged]);
  // The kernel's whiteout is a char 0:0 node in the upper dir.
  const wh = await lstat(join(upper, 'deleted.txt'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0);

  const file = join(root, 'layer.tar.zst');
  await packTo(upper, file);
  const upper2 = join(root, 'upper2');
  await mkdir(upper2);
  await chown(upper2, DST_BASE, DST_BASE);
  const r = await restoreTar(zstdDecompress(file), upper2, { srcUidBase: SRC_BASE, dstUidBase: DST_BASE, maxBytes: 1024 ** 3 });
  assert.ok(r.entries >= 8, `entries ${r.entries}`);

  const st = await lstat(join(upper2, 'data.bin'));
  assert.equal(st.mode & 0o7777, 0o640);
  assert.equal(st.uid, DST_BASE + 1000);
  assert.equal(st.gid, DST_BASE + 1001);
  assert.equal((await stat(join(upper2, 'home/daytona/script.sh'))).mode & 0o7777, 0o4755);
  assert.equal((await lstat(join(upper2, 'home/daytona'))).uid, DST_BASE + 1000);
  assert.equal(await readlink(join(upper2, 'home/daytona/link')), '../../data.bin');
  assert.equal(await readlink(join(upper2, 'home/daytona/abs-link')), '/etc/shadow');
  assert.equal((await lstat(join(upper2, 'home/daytona/hard'))).ino, st.ino, 'hard link kept');
  assert.equal(st.nlink, 2);
  const wh2 = await lstat(join(upper2, 'deleted.txt'));
  assert.ok(wh2.isCharacterDevice() && wh2.rdev === 0, 'whiteout kept');
  assert.equal(wh2.uid, DST_BASE, 'a whiteout made by host root belongs to the new sandbox root');

  // Mounted again over the image: the deleted lower file stays deleted and the replaced directory stays opaque.
  const merged2 = join(root, 'merged2');
  await overlay(lower, upper2, join(root, 'work2'), merged2);
  try {
    const names = await readdir(merged2);
    assert.ok(!names.includes('deleted.txt'), 'whiteout hides the lower file');
    assert.ok(!names.includes('gone-dir'), 'deleted lower directory stays deleted');
    assert.deepEqual(await readdir(join(merged2, 'opaque')), ['new'], 'opaque directory hides lower entries');
    assert.equal((await readFile(join(merged2, 'data.bin'))).length, 300_000);
    assert.equal(await readFile(join(merged2, 'home/daytona/script.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
  } finally {
    await exec('umount', [merged2]);
  }
});

/** Restores a hand-made archive into a fresh target; returns the error and what the target's parent holds afterwards. */
async function restoreHostile(name: string, entries: Buffer[], maxBytes = 1024 ** 2): Promise<{ err: unknown; outside: string[] }> {
  const base = join(root, `hostile-${name}`);
  const target = join(base, 'upper');
  await mkdir(target, { recursive: true });
  let err: unknown;
  try {
    await restoreTar(Readable.from([Buffer.concat([...entries, TAR_END])]), target, { srcUidBase: SRC_BASE, dstUidBase: DST_BASE, maxBytes });
  } catch (e) {
    err = e;
  }
  return { err, outside: (await readdir(base)).filter((n) => n !== 'upper') };
}

const hostile: [string, () => Buffer[], RegExp][] = [
  ['dot-dot path', () => [rawEntry('../escaped', 'file', { data: Buffer.from('x') })], /'\.\.'/],
  ['nested dot-dot path', () => [rawEntry('a/', 'dir'), rawEntry('a/../../escaped', 'file', { data: Buffer.from('x') })], /'\.\.'/],
  ['absolute path', () => [rawEntry(`${'/'}tmp/shoal-archive-abs-escaped`, 'file', { data: Buffer.from('x') })], /absolute/],
  ['symlink then file through it', () => [rawEntry('ln', 'symlink', { linkpath: '..' }), rawEntry('ln/escaped', 'file', { data: Buffer.from('x') })], /not a directory/],
  [
    'directory replaced by a symlink',
    () => [rawEntry('d/', 'dir'), rawEntry('d', 'symlink', { linkpath: '..' }), rawEntry('d/escaped', 'file', { data: Buffer.from('x') })],
    /twice/,
  ],
  ['hard link to a host file', () => [rawEntry('h', 'hardlink', { linkpath: '/etc/passwd' })], /absolute/],
  ['hard link to a symlink', () => [rawEntry('s', 'symlink', { linkpath: '/etc/passwd' }), rawEntry('h', 'hardlink', { linkpath: 's' })], /not a regular file/],
  ['char device 1:3', () => [rawEntry('null', 'char', { devmajor: 1, devminor: 3 })], /device node 1:3/],
  ['block device', () => [blockEntry('sda')], /block device/],
  ['huge sparse file', () => [rawEntry('big', 'file', { size: 2 ** 40 })], /larger than the sandbox's disk/],
  ['file bigger than the disk', () => [rawEntry('big', 'file', { data: Buffer.alloc(2 * 1024 ** 2) })], /larger than the sandbox's disk/],
];

/** A block device entry (type '4'): rawEntry has no such type, so flip the flag of a char entry and fix its checksum. */
function blockEntry(path: string): Buffer {
  const b = Buffer.from(rawEntry(path, 'char', { devmajor: 8, devminor: 0 }));
  const h = b.subarray(b.length - 512);
  h.write('4', 156, 1, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

for (const [name, build, message] of hostile) {
  test(`a hostile archive is refused: ${name}`, async () => {
    const { err, outside } = await restoreHostile(name.replace(/\W+/g, '-'), build());
    assert.ok(err instanceof LayerArchiveError, `expected a refusal, got ${String(err)}`);
    assert.match((err as Error).message, message);
    assert.deepEqual(outside, [], 'nothing written next to the target');
    await assert.rejects(stat('/tmp/shoal-archive-abs-escaped'));
    await assert.rejects(stat(join(root, 'escaped')));
  });
}

test('an archive with the pax sparse format is refused', async () => {
  const e = Buffer.from(rawEntry('s', 'file', { data: Buffer.from('x') }));
  // A pax header whose only record is GNU.sparse.major=1, then the entry's own header and data.
  const rec = '22 GNU.sparse.major=1\n';
  const pax = Buffer.alloc(1024);
  const h = pax.subarray(0, 512);
  h.write('PaxHeaders/x', 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(rec.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('x', 156);
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  pax.write(rec, 512);
  const { err } = await restoreHostile('sparse', [pax, e.subarray(e.length - 1024)]);
  assert.ok(err instanceof LayerArchiveError, String(err));
});

test('a truncated archive is refused', async () => {
  const e = rawEntry('f', 'file', { data: Buffer.alloc(4096, 1) });
  const { err } = await restoreHostile('truncated', [e.subarray(0, e.length - 1024)]);
  assert.ok(err instanceof Error);
});
