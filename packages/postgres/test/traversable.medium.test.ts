import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureTraversable } from '../src/traversable.js';

test('a data dir below a 0700 directory (mktemp -d, /root) becomes traversable by others, and only that bit changes', async () => {
  const top = await mkdtemp(join(tmpdir(), 'shoal-trav-'));
  try {
    const inner = join(top, 'a', 'b');
    await mkdir(inner, { recursive: true, mode: 0o700 });
    const before = (await stat(top)).mode & 0o777;
    assert.equal(before & 0o001, 0, 'mkdtemp makes a 0700 directory');
    const changed = await ensureTraversable(inner);
    assert.ok(changed.includes(top));
    assert.equal((await stat(top)).mode & 0o777, before | 0o001);
    assert.equal((await stat(inner)).mode & 0o001, 0o001);
    assert.deepEqual(await ensureTraversable(inner), [], 'a second call changes nothing');
  } finally {
    await rm(top, { recursive: true, force: true });
  }
});
