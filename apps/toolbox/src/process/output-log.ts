import { EventEmitter } from 'node:events';
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { STDERR_MARKER, STDOUT_MARKER } from '@shoal/contracts';
import { truncationNote } from './capture.js';
import { SESSION_LOG_HEAD_BYTES, SESSION_LOG_TAIL_BYTES } from './limits.js';

export type StreamKind = 'stdout' | 'stderr';

/**
 * The SDK's framing: every line starts with the 01 01 01 (stdout) or 02 02 02 (stderr) marker, and a marker is
 * repeated whenever the stream switches mid-line, because the SDK's demuxer assigns bytes to the stream of the most
 * recent marker.
 */
export class Framer {
  private last: StreamKind | undefined;
  private atLineStart = true;

  frame(kind: StreamKind, data: Buffer): Buffer {
    const marker = kind === 'stdout' ? STDOUT_MARKER : STDERR_MARKER;
    const parts: Buffer[] = [];
    let start = 0;
    while (start < data.length) {
      if (this.atLineStart || this.last !== kind) parts.push(marker);
      const newline = data.indexOf(10, start);
      const end = newline === -1 ? data.length : newline + 1;
      parts.push(data.subarray(start, end));
      this.atLineStart = newline !== -1;
      this.last = kind;
      start = end;
    }
    return Buffer.concat(parts);
  }
}

/** Where a reader of a log is: a position in the framed byte stream, and what it was last told. */
export interface LogCursor {
  pos: number;
  /** After a gap the reader resumes at the next marker, so that no stream is misattributed. */
  seekMarker: boolean;
  lastByte: number;
  notedEnd: boolean;
}

export const newCursor = (): LogCursor => ({ pos: 0, seekMarker: false, lastByte: 10, notedEnd: false });

/** A line of the log written by the toolbox itself, on stdout (where a reader of a long output looks). */
function noteLine(cursor: LogCursor, text: string): Buffer {
  const lead = cursor.lastByte === 10 ? '' : '\n';
  cursor.lastByte = 10;
  return Buffer.concat([Buffer.from(lead), STDOUT_MARKER, Buffer.from(`${text}\n`)]);
}

function firstMarker(data: Buffer): number {
  for (let i = 0; i + 2 < data.length; i++) {
    const b = data[i];
    if ((b === 1 || b === 2) && data[i + 1] === b && data[i + 2] === b) return i;
  }
  return -1;
}

/**
 * The log of one session command, spooled to a file outside the toolbox's memory: its first `head` bytes, then a ring
 * of its last `tail` bytes, so the file never exceeds head + tail however much the command prints. Readers (the plain
 * body, the follow streams) walk it with a cursor; one that falls behind the ring, or reads the whole log after a
 * long output, gets a marker line for what was dropped and resumes at the oldest line still kept. `data` is emitted
 * when bytes were appended, `end` when the command is over.
 */
export class OutputLog extends EventEmitter {
  private readonly framer = new Framer();
  private fd: number | undefined;
  /** Framed bytes the command produced (stored or not). */
  total = 0;
  /** Bytes that could not be spooled (the spool filesystem is full or failing): counted, said at the end. */
  unspooled = 0;
  ended = false;
  evicted: string | undefined;

  constructor(
    readonly path: string,
    private readonly onGrow: (delta: number) => void = () => undefined,
    private readonly head = SESSION_LOG_HEAD_BYTES,
    private readonly tail = SESSION_LOG_TAIL_BYTES,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Bytes this log occupies in the spool. */
  get stored(): number {
    return this.evicted ? 0 : Math.min(this.total, this.head + this.tail);
  }

  append(kind: StreamKind, data: Buffer): void {
    if (data.length === 0 || this.ended || this.evicted) return;
    const piece = this.framer.frame(kind, data);
    if (this.unspooled === 0) {
      try {
        this.write(piece);
      } catch {
        this.unspooled += piece.length;
      }
    } else {
      this.unspooled += piece.length;
    }
    this.emit('data');
  }

  private write(piece: Buffer): void {
    this.fd ??= openSync(this.path, 'w+', 0o600);
    const before = this.stored;
    let offset = 0;
    // Of what goes past the head only the last `tail` bytes can survive: the rest is skipped, not written.
    const headPart = Math.max(0, Math.min(piece.length, this.head - this.total));
    const skip = piece.length - headPart - this.tail;
    while (offset < piece.length) {
      if (offset === headPart && skip > 0) offset += skip;
      const pos = this.total + offset;
      let at: number;
      let n: number;
      if (pos < this.head) {
        at = pos;
        n = Math.min(this.head - pos, piece.length - offset);
      } else {
        const r = (pos - this.head) % this.tail;
        at = this.head + r;
        n = Math.min(this.tail - r, piece.length - offset);
      }
      writeSync(this.fd, piece, offset, n, at);
      offset += n;
    }
    this.total += piece.length;
    this.onGrow(this.stored - before);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.emit('end');
  }

  /** Frees the spool; readers get `reason` instead of the output. */
  evict(reason: string): void {
    if (this.evicted) return;
    const before = this.stored;
    this.evicted = reason;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.path, { force: true });
    this.onGrow(-before);
    this.emit('data');
  }

  /** Whether `cursor` has seen everything there will ever be. */
  done(cursor: LogCursor): boolean {
    return this.ended && cursor.notedEnd;
  }

  /**
   * The next bytes for `cursor` (at most about `max`), or undefined when it is caught up. The caller frames nothing:
   * dropped ranges, eviction and spool failures come back as marker lines in the stream.
   */
  read(cursor: LogCursor, max = 256 * 1024): Buffer | undefined {
    if (this.evicted) {
      if (cursor.notedEnd) return undefined;
      cursor.notedEnd = true;
      return noteLine(cursor, this.evicted);
    }
    for (;;) {
      if (cursor.pos >= this.total) {
        if (!this.ended || cursor.notedEnd) return undefined;
        cursor.notedEnd = true;
        if (this.unspooled === 0) return undefined;
        return noteLine(cursor, `[shoal: the toolbox's log spool is full, the last ${this.unspooled} bytes of output were not kept]`);
      }
      const tailStart = Math.max(this.head, this.total - this.tail);
      if (cursor.pos >= this.head && cursor.pos < tailStart) {
        const dropped = tailStart - cursor.pos;
        cursor.pos = tailStart;
        cursor.seekMarker = true;
        return noteLine(cursor, truncationNote(dropped, this.head, this.tail));
      }
      let at: number;
      let n: number;
      if (cursor.pos < this.head) {
        at = cursor.pos;
        n = Math.min(this.head, this.total) - cursor.pos;
      } else {
        const r = (cursor.pos - this.head) % this.tail;
        at = this.head + r;
        n = Math.min(this.tail - r, this.total - cursor.pos);
      }
      const data = this.readAt(at, Math.min(n, max));
      if (data.length === 0) return undefined;
      cursor.pos += data.length;
      let out = data;
      if (cursor.seekMarker) {
        const i = firstMarker(data);
        if (i === -1) continue;
        cursor.seekMarker = false;
        out = data.subarray(i);
      }
      cursor.lastByte = out[out.length - 1] as number;
      return out;
    }
  }

  private readAt(at: number, n: number): Buffer {
    const buffer = Buffer.allocUnsafe(n);
    const fd = this.fd ?? openSync(this.path, 'r');
    try {
      let got = 0;
      while (got < n) {
        const r = readSync(fd, buffer, got, n - got, at + got);
        if (r === 0) break;
        got += r;
      }
      return buffer.subarray(0, got);
    } finally {
      if (fd !== this.fd) closeSync(fd);
    }
  }

  /** The whole log as a reader sees it from the start: at most head + tail bytes plus marker lines. */
  contents(): Buffer {
    const cursor = newCursor();
    const parts: Buffer[] = [];
    for (let chunk = this.read(cursor, 1 << 20); chunk; chunk = this.read(cursor, 1 << 20)) parts.push(chunk);
    return Buffer.concat(parts);
  }
}

/** For SDKs older than 0.27.0, which expect plain output (the daemon strips the markers for them). */
export function stripMarkers(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if ((b === 1 || b === 2) && data[i + 1] === b && data[i + 2] === b) {
      i += 2;
      continue;
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/**
 * Markers are kept unless the client says it is an SDK older than 0.27.0. Daytona strips them when no version is
 * sent; we keep them, because a proxy that drops the header would otherwise silently empty every SDK's stdout.
 */
export function wantsMarkers(version: string | undefined): boolean {
  if (!version) return true;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return true;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major === 0 && minor === 0 && Number(m[3]) === 0) return true;
  return major > 0 || minor >= 27;
}
