// PATH lookups kept between commands (process/path-lookups.ts): an answer is reused only while the PATH's directories
// are unchanged. Real directories on the root filesystem and real inotify watches.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PathLookups } from '../src/process/path-lookups.js';

// On the root filesystem's device (the host's /tmp may be a tmpfs: such a PATH would never be cached).
const root = mkdtempSync('/var/tmp/shoal-path-lookups-');
const early = join(root, 'early');
const late = join(root, 'late');
const PATH = `${early}:${late}`;

function program(dir: string, name: string, mode = 0o755): string {
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\n', { mode });
  chmodSync(p, mode);
  return p;
}

/** The lookup's answer once it is `want`, polled while the watch's event comes in. */
async function until(lookups: PathLookups, name: string, want: string): Promise<void> {
  const deadline = Date.now() + 3000;
  let got: string | undefined;
  while (Date.now() < deadline) {
    got = await lookups.resolve(name, PATH, root);
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(got, want, 'the lookup kept an answer its directories no longer give');
}

describe('PATH lookups kept between commands', () => {
  const lookups = new PathLookups();
  before(() => {
    mkdirSync(early);
    mkdirSync(late);
  });
  after(() => {
    lookups.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers from the watched directories, and forgets when a program appears earlier on the PATH', async () => {
    const inLate = program(late, 'tool');
    assert.equal(await lookups.resolve('tool', PATH, root), inLate);
    assert.equal(lookups.watchedDirectories, 2, 'both PATH directories are watched');
    assert.equal(lookups.answersKept, 1, 'the answer is kept');
    assert.equal(await lookups.resolve('tool', PATH, root), inLate);
    const inEarly = program(early, 'tool');
    await until(lookups, 'tool', inEarly);
  });

  it('forgets when a program is removed, renamed or made executable', async () => {
    rmSync(join(early, 'tool'));
    await until(lookups, 'tool', join(late, 'tool'));
    // Not executable in the earlier directory: the later one is found; made executable, the earlier one is.
    const plain = program(early, 'other', 0o644);
    const inLate = program(late, 'other');
    assert.equal(await lookups.resolve('other', PATH, root), inLate);
    chmodSync(plain, 0o755);
    await until(lookups, 'other', plain);
    renameSync(plain, join(early, 'other-renamed'));
    await until(lookups, 'other', inLate);
  });

  it('answers found after a relative or symlinked directory are not kept', async () => {
    symlinkSync(early, join(root, 'link'));
    for (const path of [`bin:${late}`, `${join(root, 'link')}:${late}`]) {
      const kept = lookups.answersKept;
      assert.equal(await lookups.resolve('tool', path, root), join(late, 'tool'));
      assert.equal(lookups.answersKept, kept, `an answer was kept for ${path}`);
    }
  });

  it('a PATH directory that does not exist yet is watched through its parent', async () => {
    const missing = join(root, 'missing');
    const path = `${missing}:${late}`;
    assert.equal(await lookups.resolve('tool', path, root), join(late, 'tool'));
    assert.ok(lookups.answersKept > 0, 'the answer was not kept');
    mkdirSync(missing);
    const found = program(missing, 'tool');
    const deadline = Date.now() + 3000;
    let got: string | undefined;
    while (Date.now() < deadline && (got = await lookups.resolve('tool', path, root)) !== found) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got, found, 'the directory made later on the PATH was not looked in');
  });
});
