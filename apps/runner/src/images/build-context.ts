import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, rm, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * Build contexts come from tenants (the SDK uploads them to object storage), so extraction trusts nothing in them:
 * only regular files, directories, hard links to files already extracted (copied, never linked) and symlinks whose
 * target stays inside the context are written; every path component is checked with lstat so a symlink planted by an
 * earlier entry is never followed; no ownership, setuid/setgid/sticky bit or device node is ever created. Sizes and
 * entry counts are capped before anything is written, so a tar bomb stops at the cap. Our own reader (not a tar
 * library) keeps every one of these decisions in this file.
 */

export class BuildContextError extends Error {}

export interface ContextLimits {
  /** Total bytes of file content across every tar of one build. */
  maxBytes: number;
  /** Total entries (files, directories, links) across every tar of one build. */
  maxEntries: number;
}

export const DEFAULT_CONTEXT_LIMITS: ContextLimits = { maxBytes: 2 * 1024 ** 3, maxEntries: 100_000 };

/** Running totals for one build: every tar of a build shares one budget. */
export interface ContextBudget {
  bytes: number;
  entries: number;
}

const BLOCK = 512;

/** Splits an entry name into safe components; absolute names sit under the root (as node-tar writes them), `..` is refused. */
export function safeComponents(name: string): string[] {
  if (name.includes('\0')) throw new BuildContextError(`context entry name contains a NUL byte`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new BuildContextError(`context entry "${name}" escapes the context (..)`);
  return parts;
}

/** Whether a symlink at `parts` pointing to `target` resolves (lexically) inside the context root. */
function symlinkStaysInside(parts: string[], target: string): boolean {
  if (target.startsWith('/')) return false;
  // Walked by hand: path.normalize clamps `/..` to `/`, which would hide an escape.
  let depth = parts.length - 1;
  for (const c of target.split('/')) {
    if (c === '..') depth--;
    else if (c !== '' && c !== '.') depth++;
    if (depth < 0) return false;
  }
  return true;
}

function octal(buf: Buffer, off: number, len: number): number {
  // GNU base-256 for large sizes: high bit of the first byte set.
  if (buf[off]! & 0x80) {
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + buf[i]!;
    return n;
  }
  const s = buf.subarray(off, off + len).toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new BuildContextError('context tar has a malformed header');
  return parseInt(s, 8);
}

function cstr(buf: Buffer, off: number, len: number): string {
  const raw = buf.subarray(off, off + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === octal(h, 148, 8);
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    if (sp === -1) break;
    const len = Number(body.subarray(pos, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0 || pos + len > body.length) throw new BuildContextError('context tar has a malformed pax header');
    const rec = body.subarray(sp + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

class TarReader {
  private pos = 0;
  constructor(private readonly fh: FileHandle) {}

  async read(len: number): Promise<Buffer> {
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, this.pos + got);
      if (bytesRead === 0) throw new BuildContextError('context tar is truncated');
      got += bytesRead;
    }
    this.pos += len;
    return buf;
  }

  skip(len: number): void {
    this.pos += len;
  }
}

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/**
 * Ensures every directory on the way to `parts` (excluding the last) exists as a real directory created inside `root`;
 * a symlink or file in the way is an error, never followed.
 */
async function ensureParents(root: string, parts: string[]): Promise<void> {
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    cur = join(cur, p);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) await mkdir(cur, { mode: 0o755 });
    else if (!st.isDirectory()) throw new BuildContextError(`context entry "${parts.join('/')}" goes through a non-directory "${p}"`);
  }
}

/** Removes what a later entry replaces (contexts are merged in order); a directory is only replaced by a directory. */
async function clearFor(path: string, kind: 'file' | 'dir', name: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return false;
  if (st.isDirectory()) {
    if (kind === 'dir') return true;
    throw new BuildContextError(`context entry "${name}" replaces a directory`);
  }
  await unlink(path);
  return false;
}

/**
 * Extracts one uncompressed tar into `root` under the shared budget. Throws BuildContextError for anything hostile or
 * over a limit; the caller removes the root.
 */
export async function extractContextTar(tarPath: string, root: string, limits: ContextLimits, budget: ContextBudget): Promise<void> {
  const fh = await open(tarPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const fileSize = (await fh.stat()).size;
    const r = new TarReader(fh);
    let pax: Record<string, string> = {};
    let gnuName: string | undefined;
    let gnuLink: string | undefined;
    let consumed = 0;
    for (;;) {
      if (consumed + BLOCK > fileSize) throw new BuildContextError('context tar is truncated');
      const h = await r.read(BLOCK);
      consumed += BLOCK;
      if (h.every((b) => b === 0)) return;
      if (!checksumOk(h)) throw new BuildContextError('context tar has a bad header checksum');
      const type = String.fromCharCode(h[156]!) || '0';
      const size = pax.size !== undefined ? Number(pax.size) : octal(h, 124, 12);
      if (!Number.isSafeInteger(size) || size < 0) throw new BuildContextError('context tar has a bad entry size');
      if (consumed + padded(size) > fileSize) throw new BuildContextError('context tar is truncated');

      // Metadata entries describe the next one.
      if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
        if (size > 1024 * 1024) throw new BuildContextError('context tar has an oversized metadata entry');
        const body = (await r.read(padded(size))).subarray(0, size);
        consumed += padded(size);
        if (type === 'x') pax = { ...pax, ...parsePax(body) };
        else if (type === 'L') gnuName = cstr(body, 0, size);
        else if (type === 'K') gnuLink = cstr(body, 0, size);
        continue;
      }

      const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? cstr(h, 345, 155) : '';
      const name = pax.path ?? gnuName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      const linkname = pax.linkpath ?? gnuLink ?? cstr(h, 157, 100);
      pax = {};
      gnuName = undefined;
      gnuLink = undefined;

      if (++budget.entries > limits.maxEntries) throw new BuildContextError(`build context has more than ${limits.maxEntries} entries`);
      const parts = safeComponents(name);
      const mode = octal(h, 100, 8) & 0o777;
      if (parts.length === 0) {
        // The root itself ("./"): nothing to create.
        if (type !== '5') throw new BuildContextError(`context entry "${name}" has no name`);
        r.skip(padded(size));
        consumed += padded(size);
        continue;
      }
      const dest = join(root, ...parts);

      if (type === '5') {
        await ensureParents(root, parts);
        if (!(await clearFor(dest, 'dir', name))) await mkdir(dest, { mode: (mode | 0o700) & 0o755 });
      } else if (type === '0' || type === '\0' || type === '7') {
        budget.bytes += size;
        if (budget.bytes > limits.maxBytes) throw new BuildContextError(`build context is larger than ${limits.maxBytes} bytes`);
        await ensureParents(root, parts);
        await clearFor(dest, 'file', name);
        // O_EXCL|O_NOFOLLOW: the path was just cleared; anything there now was not made by us.
        const out = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, (mode | 0o600) & 0o755);
        try {
          let left = size;
          while (left > 0) {
            const n = Math.min(left, 1024 * 1024);
            await out.write(await r.read(n));
            left -= n;
          }
        } finally {
          await out.close();
        }
        r.skip(padded(size) - size);
        consumed += padded(size);
        continue;
      } else if (type === '2') {
        if (!symlinkStaysInside(parts, linkname)) {
          throw new BuildContextError(`context symlink "${name}" points outside the context ("${linkname}")`);
        }
        await ensureParents(root, parts);
        await clearFor(dest, 'file', name);
        await symlink(linkname, dest);
      } else if (type === '1') {
        // A hard link becomes a copy of a regular file this extraction already wrote; a link to anything else is refused.
        const src = join(root, ...safeComponents(linkname));
        const linkedSize = await lstatInside(root, safeComponents(linkname));
        if (linkedSize === undefined) throw new BuildContextError(`context hard link "${name}" points to "${linkname}", which is not a file of the context`);
        budget.bytes += linkedSize;
        if (budget.bytes > limits.maxBytes) throw new BuildContextError(`build context is larger than ${limits.maxBytes} bytes`);
        await ensureParents(root, parts);
        await clearFor(dest, 'file', name);
        await copyFile(src, dest, constants.COPYFILE_EXCL);
      } else {
        const what = type === '3' ? 'character device' : type === '4' ? 'block device' : type === '6' ? 'FIFO' : `type ${JSON.stringify(type)}`;
        throw new BuildContextError(`context entry "${name}" is a ${what}; only files, directories and links are allowed`);
      }
      r.skip(padded(size));
      consumed += padded(size);
    }
  } finally {
    await fh.close();
  }
}

/** Size of a regular file at `parts` under root, reached with lstat at every step; undefined for anything else. */
async function lstatInside(root: string, parts: string[]): Promise<number | undefined> {
  if (parts.length === 0) return undefined;
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) return undefined;
    if (i < parts.length - 1 && !st.isDirectory()) return undefined;
    if (i === parts.length - 1) return st.isFile() ? st.size : undefined;
  }
  return undefined;
}

/** Extracts every tar, in order, into a fresh `root` (0700). On failure the root is removed. */
export async function extractContexts(tars: string[], root: string, limits: ContextLimits = DEFAULT_CONTEXT_LIMITS): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { mode: 0o700 });
  const budget: ContextBudget = { bytes: 0, entries: 0 };
  try {
    for (const t of tars) await extractContextTar(t, root, limits, budget);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}
