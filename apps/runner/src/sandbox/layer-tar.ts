import type { Readable, Writable } from 'node:stream';

/*
 * A pax tar reader that treats its input as hostile (a sandbox's writable layer, packed by a runner but made of
 * whatever the sandbox wrote, and stored where it could have been swapped), and a writer that re-emits only what
 * passed the checks, in a plain form GNU tar extracts without interpretation: every entry's path, owner and size in
 * a pax header, parents always before children, no entry twice, no path through a symlink, hard links only to
 * regular files already extracted, device nodes only as overlayfs whiteouts (char 0:0), and at most `maxBytes` of
 * file data in all.
 */

export class LayerArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayerArchiveError';
  }
}

export interface SanitizeOptions {
  /** First host uid/gid of the sandbox the layer was packed from (owners are shifted from it...). */
  srcUidBase: number;
  /** ...to this sandbox's range. Owners outside the source range (whiteouts the kernel made as host root) become its root. */
  dstUidBase: number;
  /** Bound on the sum of regular file sizes (the new sandbox's disk). */
  maxBytes: number;
  /** Bound on the number of entries. */
  maxEntries?: number;
}

export interface SanitizeResult {
  entries: number;
  bytes: number;
}

const BLOCK = 512;
const RANGE = 65536;
const MAX_PAX = 1024 * 1024;
const MAX_XATTR_BYTES = 64 * 1024;
/** Extended attributes kept: the sandbox's own user.* and overlayfs's opaque-directory mark; everything else is dropped. */
const KEEP_XATTR = (name: string): boolean => name.startsWith('user.') || name === 'trusted.overlay.opaque';

interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: [string, Buffer][];
}

/** Pulls exact byte counts out of a stream. */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(src: Readable) {
    this.it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Up to `n` bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Buffer> {
    while (this.have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
        this.chunks.push(b);
        this.have += b.length;
      }
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }

  async exact(n: number, what: string): Promise<Buffer> {
    const b = await this.read(n);
    if (b.length !== n) throw new LayerArchiveError(`archive ends inside ${what}`);
    return b;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, field: string): number {
  if (b[0]! & 0x80) {
    // base-256 (GNU): big-endian, first byte's top bit is the marker; negative values refused
    if (b[0]! & 0x40) throw new LayerArchiveError(`negative ${field}`);
    let v = b[0]! & 0x3f;
    for (let i = 1; i < b.length; i++) {
      v = v * 256 + b[i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw new LayerArchiveError(`${field} out of range`);
    }
    return v;
  }
  const s = cstr(b).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new LayerArchiveError(`malformed ${field}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return num(h.subarray(148, 156), 'checksum') === sum;
}

function parsePax(b: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < b.length) {
    const sp = b.indexOf(0x20, pos);
    if (sp < 0) throw new LayerArchiveError('malformed pax record');
    const len = Number(b.subarray(pos, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= sp - pos + 1 || pos + len > b.length || b[pos + len - 1] !== 0x0a) throw new LayerArchiveError('malformed pax record');
    const rec = b.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new LayerArchiveError('malformed pax record');
    out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    pos += len;
  }
  return out;
}

/** `a/b/c` from what the archive says; refuses anything that is not a plain relative path. Empty string = the root. */
export function normalizeMember(raw: string): string {
  if (raw.includes('\0')) throw new LayerArchiveError('member name contains NUL');
  if (raw.startsWith('/')) throw new LayerArchiveError(`absolute member name: ${raw.slice(0, 200)}`);
  let p = raw;
  while (p.startsWith('./')) p = p.slice(2);
  while (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '.' || p === '') return '';
  if (p.length > 4096) throw new LayerArchiveError('member name too long');
  for (const part of p.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new LayerArchiveError(`member name with '${part || '//'}': ${raw.slice(0, 200)}`);
    if (Buffer.byteLength(part) > 255) throw new LayerArchiveError('member name component too long');
  }
  return p;
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/**
 * Reads the (decompressed) tar in `src`, checks every entry and writes the accepted layer as a fresh pax tar to
 * `out`. Throws LayerArchiveError at the first entry that breaks a rule; the caller discards what was extracted.
 */
export async function sanitizeLayer(src: Readable, out: Writable, o: SanitizeOptions): Promise<SanitizeResult> {
  const r = new ByteReader(src);
  const maxEntries = o.maxEntries ?? 4_000_000;
  const dirs = new Set<string>(['']);
  const seen = new Set<string>();
  const files = new Set<string>();
  let bytes = 0;
  let entries = 0;
  let pax: Map<string, Buffer> | undefined;
  // The extracting tar may die (disk full): then stop reading instead of waiting for a drain that never comes.
  const write = async (b: Buffer) => {
    if (out.destroyed) throw new Error('extraction stopped before the end of the archive');
    if (out.write(b)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.on('drain', done);
      out.on('close', done);
    });
  };
  try {
    for (;;) {
      const h = await r.exact(BLOCK, 'a header');
      if (h.every((x) => x === 0)) break;
      if (!checksumOk(h)) throw new LayerArchiveError('bad header checksum');
      const flag = String.fromCharCode(h[156]!);
      const hdrSize = num(h.subarray(124, 136), 'size');
      if (flag === 'x') {
        if (hdrSize > MAX_PAX) throw new LayerArchiveError('pax header too large');
        const body = await r.exact(Math.ceil(hdrSize / BLOCK) * BLOCK, 'a pax header');
        pax = parsePax(body.subarray(0, hdrSize));
        continue;
      }
      const p = pax ?? new Map<string, Buffer>();
      pax = undefined;
      const magic = h.subarray(257, 262).toString('latin1');
      const prefix = magic === 'ustar' ? cstr(h.subarray(345, 500)) : '';
      const name = p.get('path')?.toString('utf8') ?? (prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)));
      const type = (
        { '0': 'file', '\0': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '5': 'dir', '6': 'fifo' } as Record<string, Entry['type']>
      )[flag];
      if (!type) throw new LayerArchiveError(`entry type '${flag === '4' ? 'block device' : flag}' not allowed: ${name.slice(0, 200)}`);
      for (const k of p.keys()) if (k.startsWith('GNU.sparse')) throw new LayerArchiveError('sparse entries are not allowed');
      const size = p.has('size') ? Number(p.get('size')!.toString()) : hdrSize;
      if (!Number.isSafeInteger(size) || size < 0) throw new LayerArchiveError('bad entry size');
      const e: Entry = {
        path: normalizeMember(name),
        type,
        mode: num(h.subarray(100, 108), 'mode') & 0o7777,
        uid: p.has('uid') ? Number(p.get('uid')!.toString()) : num(h.subarray(108, 116), 'uid'),
        gid: p.has('gid') ? Number(p.get('gid')!.toString()) : num(h.subarray(116, 124), 'gid'),
        size,
        mtime: p.has('mtime') ? Math.floor(Number(p.get('mtime')!.toString())) : num(h.subarray(136, 148), 'mtime'),
        linkpath: p.get('linkpath')?.toString('utf8') ?? cstr(h.subarray(157, 257)),
        devmajor: num(h.subarray(329, 337), 'devmajor'),
        devminor: num(h.subarray(337, 345), 'devminor'),
        xattrs: [],
      };
      if (!Number.isFinite(e.mtime)) e.mtime = 0;
      let xbytes = 0;
      for (const [k, v] of p) {
        if (!k.startsWith('SCHILY.xattr.')) continue;
        const xn = k.slice('SCHILY.xattr.'.length);
        if (!KEEP_XATTR(xn)) continue;
        if (xn === 'trusted.overlay.opaque' && (e.type !== 'dir' || v.toString() !== 'y')) continue;
        xbytes += xn.length + v.length;
        if (xbytes > MAX_XATTR_BYTES) throw new LayerArchiveError('too many extended attributes');
        e.xattrs.push([xn, v]);
      }
      if (type !== 'file' && e.size !== 0 && type !== 'hardlink') throw new LayerArchiveError(`${type} entry with data: ${e.path}`);
      if (type === 'hardlink' && e.size !== 0) throw new LayerArchiveError(`hard link with data: ${e.path}`);
      const dataBlocks = type === 'file' ? Math.ceil(e.size / BLOCK) * BLOCK : 0;

      if (e.path === '') {
        // The upper directory itself: its owner and mode are the launcher's to set.
        if (type !== 'dir') throw new LayerArchiveError('the archive root is not a directory');
        continue;
      }
      if (++entries > maxEntries) throw new LayerArchiveError(`more than ${maxEntries} entries`);
      if (seen.has(e.path)) throw new LayerArchiveError(`entry appears twice: ${e.path}`);
      if (!dirs.has(parentOf(e.path))) throw new LayerArchiveError(`parent of ${e.path} is not a directory of the archive`);
      if (type === 'char' && (e.devmajor !== 0 || e.devminor !== 0)) {
        throw new LayerArchiveError(`device node ${e.devmajor}:${e.devminor} not allowed (only overlay whiteouts, 0:0): ${e.path}`);
      }
      if (type === 'hardlink') {
        const target = normalizeMember(e.linkpath);
        if (!files.has(target)) throw new LayerArchiveError(`hard link to something that is not a regular file of the archive: ${e.path}`);
        e.linkpath = target;
      }
      if (type === 'symlink' && (e.linkpath === '' || e.linkpath.includes('\0') || Buffer.byteLength(e.linkpath) > 4095)) {
        throw new LayerArchiveError(`bad symlink target: ${e.path}`);
      }
      if (type === 'file') {
        bytes += e.size;
        if (bytes > o.maxBytes) throw new LayerArchiveError(`layer is larger than the sandbox's disk (${o.maxBytes} bytes)`);
        files.add(e.path);
      }
      seen.add(e.path);
      if (type === 'dir') dirs.add(e.path);
      e.uid = shiftId(e.uid, o);
      e.gid = shiftId(e.gid, o);

      await write(encodeEntry(e));
      let left = dataBlocks;
      while (left > 0) {
        const chunk = await r.read(Math.min(left, 1024 * 1024));
        if (chunk.length === 0) throw new LayerArchiveError(`archive ends inside ${e.path}`);
        left -= chunk.length;
        await write(chunk);
      }
    }
    await write(Buffer.alloc(BLOCK * 2));
    return { entries, bytes };
  } finally {
    await r.close().catch(() => undefined);
  }
}

function shiftId(id: number, o: SanitizeOptions): number {
  const rel = Number.isSafeInteger(id) && id >= o.srcUidBase && id < o.srcUidBase + RANGE ? id - o.srcUidBase : 0;
  return o.dstUidBase + rel;
}

function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  const body = Buffer.concat([Buffer.from(` ${key}=`), v, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(buf: Buffer, off: number, width: number, v: number): void {
  const s = v.toString(8);
  const fits = s.length <= width - 1;
  buf.write((fits ? s : '0').padStart(width - 1, '0') + '\0', off, width, 'latin1');
}

function header(name: string, flag: string, e: Pick<Entry, 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'linkpath' | 'devmajor' | 'devminor'>): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name.slice(0, 99), 0, 100, 'utf8');
  octal(h, 100, 8, e.mode);
  octal(h, 108, 8, e.uid);
  octal(h, 116, 8, e.gid);
  octal(h, 124, 12, e.size);
  octal(h, 136, 12, Math.max(0, e.mtime));
  h.write(flag, 156, 1, 'latin1');
  h.write(e.linkpath.slice(0, 99), 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'latin1');
  octal(h, 329, 8, e.devmajor);
  octal(h, 337, 8, e.devminor);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

const FLAG: Record<Entry['type'], string> = { file: '0', hardlink: '1', symlink: '2', char: '3', dir: '5', fifo: '6' };

/** One entry as a pax extended header (the authoritative path, link, owner, size, mtime and xattrs) plus its ustar header. */
export function encodeEntry(e: Entry): Buffer {
  const recs = [
    paxRecord('path', e.path + (e.type === 'dir' ? '/' : '')),
    paxRecord('uid', String(e.uid)),
    paxRecord('gid', String(e.gid)),
    paxRecord('mtime', String(e.mtime)),
    paxRecord('size', String(e.type === 'file' ? e.size : 0)),
    ...(e.type === 'symlink' || e.type === 'hardlink' ? [paxRecord('linkpath', e.linkpath)] : []),
    ...e.xattrs.map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, v)),
  ];
  const body = Buffer.concat(recs);
  const padded = Buffer.alloc(Math.ceil(body.length / BLOCK) * BLOCK);
  body.copy(padded);
  const zero = { mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: e.mtime, linkpath: '', devmajor: 0, devminor: 0 };
  return Buffer.concat([
    header('PaxHeaders/entry', 'x', zero),
    padded,
    header(e.path.split('/').pop()!, FLAG[e.type], { ...e, size: e.type === 'file' ? e.size : 0, linkpath: e.linkpath }),
  ]);
}

/** A raw entry for tests that build archives by hand (hostile ones included): no checks at all. */
export function rawEntry(
  path: string,
  type: Entry['type'],
  opts: Partial<Omit<Entry, 'path' | 'type'>> & { data?: Buffer } = {},
): Buffer {
  const data = opts.data ?? Buffer.alloc(0);
  const e: Entry = {
    path,
    type,
    mode: opts.mode ?? (type === 'dir' ? 0o755 : 0o644),
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
    size: opts.size ?? data.length,
    mtime: opts.mtime ?? 0,
    linkpath: opts.linkpath ?? '',
    devmajor: opts.devmajor ?? 0,
    devminor: opts.devminor ?? 0,
    xattrs: opts.xattrs ?? [],
  };
  const pad = Buffer.alloc(Math.ceil(data.length / BLOCK) * BLOCK);
  data.copy(pad);
  const enc = encodeEntry(e);
  // encodeEntry always writes a relative path in pax; hostile tests need the raw path as given
  return Buffer.concat([rewritePath(enc, path + (type === 'dir' && !path.endsWith('/') ? '/' : '')), pad]);
}

function rewritePath(enc: Buffer, path: string): Buffer {
  const size = num(enc.subarray(124, 136), 'size');
  const body = parsePax(enc.subarray(BLOCK, BLOCK + size));
  body.set('path', Buffer.from(path));
  const recs = Buffer.concat([...body].map(([k, v]) => paxRecord(k, v)));
  const padded = Buffer.alloc(Math.ceil(recs.length / BLOCK) * BLOCK);
  recs.copy(padded);
  const ustar = enc.subarray(enc.length - BLOCK);
  const zero = { mode: 0o644, uid: 0, gid: 0, size: recs.length, mtime: 0, linkpath: '', devmajor: 0, devminor: 0 };
  return Buffer.concat([header('PaxHeaders/entry', 'x', zero), padded, ustar]);
}

export const TAR_END = Buffer.alloc(BLOCK * 2);
