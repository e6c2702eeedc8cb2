import { EventEmitter } from 'node:events';
import { STDERR_MARKER, STDOUT_MARKER } from '@shoal/contracts';

export type StreamKind = 'stdout' | 'stderr';

/** Output kept per command; beyond this the log stops growing (the command keeps running). */
const MAX_LOG_BYTES = 256 * 1024 * 1024;

/**
 * The log of one session command, in the SDK's framing: every line starts with the 01 01 01 (stdout) or 02 02 02
 * (stderr) marker, and a marker is repeated whenever the stream switches mid-line, because the SDK's demuxer
 * assigns bytes to the stream of the most recent marker. Followers get every appended piece and an `end` event.
 */
export class OutputLog extends EventEmitter {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private last: StreamKind | undefined;
  private atLineStart = true;
  ended = false;

  append(kind: StreamKind, data: Buffer): void {
    if (data.length === 0 || this.ended) return;
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
    const piece = Buffer.concat(parts);
    if (this.bytes + piece.length > MAX_LOG_BYTES) return;
    this.bytes += piece.length;
    this.chunks.push(piece);
    this.emit('data', piece);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end');
  }

  contents(): Buffer {
    if (this.chunks.length > 1) {
      const joined = Buffer.concat(this.chunks);
      this.chunks.length = 0;
      this.chunks.push(joined);
    }
    return this.chunks[0] ?? Buffer.alloc(0);
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
