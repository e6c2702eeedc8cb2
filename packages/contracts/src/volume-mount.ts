/**
 * The one parser of a sandbox's volume mounts (`volumes: [{volumeId, mountPath, subpath?}]`). The API validates what a
 * client sends with it and the runner checks what it will mount with it, so a list the API accepted is never read
 * differently by the runner, and a runner never trusts a list it was sent.
 */

export interface VolumeMountSpec {
  /** A safe token (uuid-ish): it names files on the runner host and keys in object storage. */
  volumeId: string;
  /** Absolute and normalized: no `.`/`..`/empty segments, no trailing slash. */
  mountPath: string;
  /** Relative, normalized, without `..`; absent when the whole volume is mounted. */
  subpath?: string;
}

export type VolumeMountParse = { ok: true; mounts: VolumeMountSpec[] } | { ok: false; message: string };

export const MAX_VOLUME_MOUNTS = 32;
export const VOLUME_ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const MAX_PATH = 1024;

/**
 * Directories a volume may not cover nor be placed inside: the kernel's views (/proc, /sys, /dev), what the image
 * needs to run (/etc, /bin, /sbin, /lib*, /usr, /boot), /run (and /var/run, its usual alias) where the runtime keeps
 * sockets, and /.shoal where the runner places the toolbox. /tmp and /var are allowed: covering them only hides the
 * image's own files there, which is the user's choice. The API's checks and the runner's parser use this one list.
 */
export const RESERVED_MOUNT_DIRS = ['/proc', '/sys', '/dev', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/usr', '/boot', '/run', '/var/run', '/.shoal'];

/** Why `p` cannot be a mount path, or undefined when it can. */
export function mountPathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string' || p.length === 0) return 'mountPath is required';
  if (p.length > MAX_PATH) return `mountPath must be at most ${MAX_PATH} characters`;
  if (!p.startsWith('/')) return `mountPath must be an absolute path, got "${p}"`;
  if (/[\0\n]/.test(p)) return 'mountPath must not contain NUL or newline characters';
  if (p === '/') return 'mountPath cannot be the root directory';
  const segments = p.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return `mountPath must be a normalized absolute path (no "." or ".." or empty segments, no trailing slash), got "${p}"`;
  const reserved = RESERVED_MOUNT_DIRS.find((r) => p === r || p.startsWith(`${r}/`));
  if (reserved) return `mountPath ${p} is inside the system directory ${reserved}`;
  return undefined;
}

/** Why `s` cannot be a subpath, or undefined when it can (undefined and '' mean the whole volume). */
export function subpathProblem(s: unknown): string | undefined {
  if (s === undefined || s === '') return undefined;
  if (typeof s !== 'string') return 'subpath must be a string';
  if (s.length > MAX_PATH) return `subpath must be at most ${MAX_PATH} characters`;
  if (s.startsWith('/')) return `subpath must be relative to the volume, got "${s}"`;
  if (/[\0\n]/.test(s)) return 'subpath must not contain NUL or newline characters';
  if (s.split('/').some((x) => x === '' || x === '.' || x === '..')) return `subpath must be a normalized relative path without "..", got "${s}"`;
  return undefined;
}

export function parseVolumeMounts(raw: unknown): VolumeMountParse {
  if (raw === undefined || raw === null) return { ok: true, mounts: [] };
  if (!Array.isArray(raw)) return { ok: false, message: 'volumes must be an array' };
  if (raw.length > MAX_VOLUME_MOUNTS) return { ok: false, message: `A sandbox can mount at most ${MAX_VOLUME_MOUNTS} volumes` };
  const mounts: VolumeMountSpec[] = [];
  for (const item of raw as unknown[]) {
    if (typeof item !== 'object' || item === null) return { ok: false, message: 'each volume must be an object {volumeId, mountPath, subpath?}' };
    const { volumeId, mountPath, subpath } = item as Record<string, unknown>;
    if (typeof volumeId !== 'string' || !VOLUME_ID_RE.test(volumeId)) {
      return { ok: false, message: `Invalid volumeId "${String(volumeId)}": 1-64 characters of [A-Za-z0-9-]` };
    }
    const mp = mountPathProblem(mountPath);
    if (mp) return { ok: false, message: mp };
    const sp = subpathProblem(subpath);
    if (sp) return { ok: false, message: sp };
    const path = mountPath as string;
    for (const m of mounts) {
      // Nested mount paths are fine: the runtime places each one inside the rootfs as it stands after the previous.
      if (m.mountPath === path) return { ok: false, message: `Two volumes cannot be mounted at the same path ${path}` };
    }
    mounts.push({ volumeId, mountPath: path, ...(subpath ? { subpath: subpath as string } : {}) });
  }
  return { ok: true, mounts };
}
