import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseVolumeMounts } from '../src/volume-mount.js';

const ok = (raw: unknown) => {
  const r = parseVolumeMounts(raw);
  assert.ok(r.ok, JSON.stringify(raw) + ' -> ' + (r.ok ? '' : r.message));
  return r.mounts;
};
const bad = (raw: unknown, re: RegExp) => {
  const r = parseVolumeMounts(raw);
  assert.equal(r.ok, false, `${JSON.stringify(raw)} was accepted`);
  if (!r.ok) assert.match(r.message, re);
};
const id = '6f1c2a8e-3b5d-4e7f-9a01-23456789abcd';

describe('parseVolumeMounts', () => {
  it('accepts absent lists, whole volumes, subpaths and nested mount paths', () => {
    assert.deepEqual(ok(undefined), []);
    assert.deepEqual(ok([]), []);
    assert.deepEqual(ok([{ volumeId: id, mountPath: '/home/daytona/volume' }]), [{ volumeId: id, mountPath: '/home/daytona/volume' }]);
    assert.deepEqual(ok([{ volumeId: 'vol-1', mountPath: '/data', subpath: 'a/b' }]), [{ volumeId: 'vol-1', mountPath: '/data', subpath: 'a/b' }]);
    assert.deepEqual(ok([{ volumeId: id, mountPath: '/data', subpath: '' }]), [{ volumeId: id, mountPath: '/data' }]);
    assert.equal(ok([{ volumeId: id, mountPath: '/a' }, { volumeId: 'x', mountPath: '/a/b' }]).length, 2);
    assert.equal(ok([{ volumeId: id, mountPath: '/var/data' }, { volumeId: id, mountPath: '/tmp/x' }]).length, 2);
  });

  it('refuses ids that are not safe tokens', () => {
    for (const volumeId of ['', '../x', 'a/b', '.hidden', 'a b', 'a_b', 'x'.repeat(65), 7, null]) bad([{ volumeId, mountPath: '/d' }], /volumeId/);
  });

  it('refuses mount paths that are relative, not normalized, the root or a system directory', () => {
    for (const mountPath of ['data', './data', '/data/', '//data', '/a/./b', '/a/../etc', '', 5]) bad([{ volumeId: id, mountPath }], /mountPath/);
    bad([{ volumeId: id, mountPath: '/' }], /root/);
    for (const mountPath of ['/proc', '/proc/x', '/sys', '/dev/shm', '/etc', '/etc/hosts', '/.shoal/toolbox', '/usr', '/usr/local', '/run', '/var/run']) {
      bad([{ volumeId: id, mountPath }], /system directory/);
    }
    bad([{ volumeId: id, mountPath: '/a\nb' }], /NUL or newline/);
  });

  it('refuses subpaths that are absolute or climb', () => {
    for (const subpath of ['../x', 'a/../../x', '..', 'a/..', '/etc', 'a//b', 'a/', './a', 5]) bad([{ volumeId: id, mountPath: '/d', subpath }], /subpath/);
  });

  it('refuses two volumes on one path, too many volumes and non-arrays', () => {
    bad([{ volumeId: id, mountPath: '/a' }, { volumeId: 'other', mountPath: '/a' }], /same path/);
    bad(Array.from({ length: 33 }, (_, i) => ({ volumeId: id, mountPath: `/m${i}` })), /at most/);
    bad({ volumeId: id, mountPath: '/a' }, /array/);
    bad(['x'], /object/);
  });
});
