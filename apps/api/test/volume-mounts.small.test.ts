import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../src/errors.js';
import { checkMountPath, checkSubpath, checkVolumeMounts, RESERVED_MOUNT_DIRS } from '../src/services/volume-mounts.js';

/* The mount rules of sandbox create (services/volume-mounts.ts), without a database. */

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ApiError && err.statusCode === 400 && message.test(err.message));
}

test('mount paths are normalized: . segments, doubled and trailing slashes', () => {
  assert.equal(checkMountPath('/home/daytona/volume/'), '/home/daytona/volume');
  assert.equal(checkMountPath('/mnt//data/./x'), '/mnt/data/x');
  assert.equal(checkMountPath('/tmp/cache'), '/tmp/cache');
  assert.equal(checkMountPath('/var/data'), '/var/data');
  // A name that merely starts like a reserved directory is not inside it.
  assert.equal(checkMountPath('/usrdata'), '/usrdata');
  assert.equal(checkMountPath('/procs'), '/procs');
});

test('the root, relative paths, .. anywhere, control characters and over-long paths are refused', () => {
  for (const p of ['/', '//', '/.', '/./']) refused(() => checkMountPath(p), /whole sandbox filesystem/);
  for (const p of ['data', './data', '../x', '', ' /data']) refused(() => checkMountPath(p), /must be absolute/);
  for (const p of ['/..', '/a/..', '/home/../etc', '/a/../../proc', '/x/..']) refused(() => checkMountPath(p), /must not contain '\.\.'/);
  refused(() => checkMountPath('/data\u0000'), /control characters/);
  refused(() => checkMountPath('/da\tta'), /control characters/);
  refused(() => checkMountPath(`/${'a'.repeat(1024)}`), /longer than 1024/);
});

test('every reserved directory and anything inside it is refused, also when written unnormalized', () => {
  for (const d of RESERVED_MOUNT_DIRS) {
    refused(() => checkMountPath(d), /system directory/);
    refused(() => checkMountPath(`${d}/sub/dir`), /system directory/);
    refused(() => checkMountPath(`/${d}//`), /system directory/);
    refused(() => checkMountPath(`/.${d}`), /system directory/);
  }
  for (const d of ['/proc', '/sys', '/dev', '/etc', '/usr', '/bin', '/lib', '/run', '/var/run', '/.shoal']) assert.ok(RESERVED_MOUNT_DIRS.includes(d), d);
});

test('subpaths are relative, without .., normalized; empty and . mean the root', () => {
  assert.equal(checkSubpath(undefined), undefined);
  assert.equal(checkSubpath(''), undefined);
  assert.equal(checkSubpath('.'), undefined);
  assert.equal(checkSubpath('./'), undefined);
  assert.equal(checkSubpath('a//b/./c/'), 'a/b/c');
  refused(() => checkSubpath('/abs'), /must be relative/);
  for (const p of ['..', '../x', 'a/../..', 'a/..']) refused(() => checkSubpath(p), /must not contain '\.\.'/);
  refused(() => checkSubpath('a\nb'), /control characters/);
});

test('the mount list: no two on one path, none inside another, one volume twice only with different subpaths, at most 16', () => {
  assert.deepEqual(
    checkVolumeMounts([
      { volumeId: 'v', mountPath: '/a/', subpath: 'x' },
      { volumeId: 'v', mountPath: '/b', subpath: 'y' },
      { volumeId: 'w', mountPath: '/ab' },
    ]),
    [
      { volumeId: 'v', mountPath: '/a', subpath: 'x' },
      { volumeId: 'v', mountPath: '/b', subpath: 'y' },
      { volumeId: 'w', mountPath: '/ab' },
    ],
  );
  refused(() => checkVolumeMounts([{ volumeId: 'v', mountPath: '/a' }, { volumeId: 'w', mountPath: '/a/' }]), /two volumes are mounted at \/a/);
  refused(() => checkVolumeMounts([{ volumeId: 'v', mountPath: '/a/b' }, { volumeId: 'w', mountPath: '/a' }]), /\/a\/b is inside mount path \/a/);
  refused(() => checkVolumeMounts([{ volumeId: 'v', mountPath: '/a' }, { volumeId: 'v', mountPath: '/b' }]), /mounted twice/);
  refused(() => checkVolumeMounts([{ volumeId: 'v', mountPath: '/a', subpath: 'x/' }, { volumeId: 'v', mountPath: '/b', subpath: './x' }]), /mounted twice/);
  refused(() => checkVolumeMounts(Array.from({ length: 17 }, (_, i) => ({ volumeId: `v${i}`, mountPath: `/m${i}` }))), /at most 16/);
});
