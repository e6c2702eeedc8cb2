import { posix } from 'node:path';
import { RESERVED_MOUNT_DIRS } from '@shoal/contracts';
import { Errors } from '../errors.js';

/** A mount as the client sent it: `volumeId` is a volume id or a name. */
export interface RequestedVolumeMount {
  volumeId: string;
  mountPath: string;
  subpath?: string | undefined;
}

/** A mount whose paths passed the rules, in normalized form. */
export interface CheckedVolumeMount {
  volumeId: string;
  mountPath: string;
  subpath?: string;
}

/** More mounts than this per sandbox is a mistake, not a use case; each one is a bind mount on the runner. */
export const MAX_VOLUME_MOUNTS = 16;
const MAX_PATH = 1024;

export { RESERVED_MOUNT_DIRS };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/**
 * The normalized absolute mount path. Refused: relative paths, `..` segments (before normalization, so `/a/../proc`
 * cannot sneak past the reserved list), control characters, the root and the reserved directories. `.`, `//` and a
 * trailing `/` are normalized away.
 */
export function checkMountPath(raw: string): string {
  const shown = JSON.stringify(raw.slice(0, 200));
  if (!raw.startsWith('/')) throw Errors.volumeMountInvalid(`mount path ${shown} must be absolute`);
  if (raw.length > MAX_PATH) throw Errors.volumeMountInvalid(`mount path is longer than ${MAX_PATH} characters`);
  if (CONTROL.test(raw)) throw Errors.volumeMountInvalid(`mount path ${shown} contains control characters`);
  if (raw.split('/').includes('..')) throw Errors.volumeMountInvalid(`mount path ${shown} must not contain '..'`);
  const path = posix.normalize(raw).replace(/\/+$/, '') || '/';
  if (path === '/') throw Errors.volumeMountInvalid('mount path / would cover the whole sandbox filesystem');
  const reserved = RESERVED_MOUNT_DIRS.find((d) => inside(path, d));
  if (reserved) throw Errors.volumeMountInvalid(`mount path ${shown} is inside the system directory ${reserved}`);
  return path;
}

/** The normalized relative subpath, or undefined for the volume's root. Refused: absolute paths, `..`, control characters. */
export function checkSubpath(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const shown = JSON.stringify(raw.slice(0, 200));
  if (raw.startsWith('/')) throw Errors.volumeMountInvalid(`subpath ${shown} must be relative to the volume`);
  if (raw.length > MAX_PATH) throw Errors.volumeMountInvalid(`subpath is longer than ${MAX_PATH} characters`);
  if (CONTROL.test(raw)) throw Errors.volumeMountInvalid(`subpath ${shown} contains control characters`);
  if (raw.split('/').includes('..')) throw Errors.volumeMountInvalid(`subpath ${shown} must not contain '..'`);
  const path = posix.normalize(raw).replace(/\/+$/, '');
  return path === '.' || path === '' ? undefined : path;
}

/**
 * Path rules for a sandbox's whole mount list: each path valid, no two mounts on one path, no mount inside another
 * (the inner one would be hidden or would land inside the outer volume's data), and one volume at two places only
 * with different subpaths (the same directory twice is a mistake). `volumeId` is compared as given; the caller checks
 * again after resolving names to ids.
 */
export function checkVolumeMounts(mounts: RequestedVolumeMount[]): CheckedVolumeMount[] {
  if (mounts.length > MAX_VOLUME_MOUNTS) throw Errors.volumeMountInvalid(`at most ${MAX_VOLUME_MOUNTS} volumes per sandbox`);
  const checked = mounts.map((m) => {
    const subpath = checkSubpath(m.subpath);
    return { volumeId: m.volumeId, mountPath: checkMountPath(m.mountPath), ...(subpath !== undefined ? { subpath } : {}) };
  });
  checkDistinct(checked);
  return checked;
}

/** The duplicate and nesting rules alone (also run on resolved ids, where a name and an id may name one volume). */
export function checkDistinct(mounts: CheckedVolumeMount[]): void {
  for (const [i, a] of mounts.entries()) {
    for (const b of mounts.slice(i + 1)) {
      if (a.mountPath === b.mountPath) throw Errors.volumeMountInvalid(`two volumes are mounted at ${a.mountPath}`);
      if (inside(b.mountPath, a.mountPath) || inside(a.mountPath, b.mountPath)) {
        const [outer, inner] = a.mountPath.length < b.mountPath.length ? [a, b] : [b, a];
        throw Errors.volumeMountInvalid(`mount path ${inner.mountPath} is inside mount path ${outer.mountPath}`);
      }
      if (a.volumeId === b.volumeId && (a.subpath ?? '') === (b.subpath ?? '')) {
        throw Errors.volumeMountInvalid(`volume ${a.volumeId} is mounted twice (${a.mountPath}, ${b.mountPath}) with the same subpath`);
      }
    }
  }
}
