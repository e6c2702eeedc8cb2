/**
 * executeCommand's output held in memory up to a fixed cap: the first `head` bytes, then a ring of the last `tail`
 * bytes. Everything beyond is counted and dropped (the command keeps running and is never blocked by a full pipe), and
 * the result says where and how much was dropped.
 */
export class BoundedCapture {
  private readonly headChunks: Buffer[] = [];
  private headBytes = 0;
  private ring: Buffer | undefined;
  /** Bytes written into the ring in total; the ring holds the last min(ringWritten, tail) of them. */
  private ringWritten = 0;
  total = 0;

  constructor(
    private readonly head: number,
    private readonly tail: number,
  ) {}

  append(data: Buffer): void {
    this.total += data.length;
    let rest = data;
    if (this.headBytes < this.head) {
      const take = Math.min(this.head - this.headBytes, rest.length);
      // Copied: the caller's buffer may be a slice of a pooled allocation it reuses.
      this.headChunks.push(Buffer.from(rest.subarray(0, take)));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tail === 0) return;
    this.ring ??= Buffer.allocUnsafe(this.tail);
    if (rest.length > this.tail) {
      this.ringWritten += rest.length - this.tail;
      rest = rest.subarray(rest.length - this.tail);
    }
    let at = this.ringWritten % this.tail;
    let offset = 0;
    while (offset < rest.length) {
      const n = Math.min(this.tail - at, rest.length - offset);
      rest.copy(this.ring, at, offset, offset + n);
      offset += n;
      at = 0;
    }
    this.ringWritten += rest.length;
  }

  get dropped(): number {
    return Math.max(0, this.ringWritten - this.tail);
  }

  /** What was kept, with a marker line where bytes were dropped. */
  result(): Buffer {
    const head = Buffer.concat(this.headChunks);
    if (!this.ring) return head;
    const kept = Math.min(this.ringWritten, this.tail);
    const start = (this.ringWritten - kept) % this.tail;
    const tail =
      start + kept <= this.tail
        ? this.ring.subarray(start, start + kept)
        : Buffer.concat([this.ring.subarray(start), this.ring.subarray(0, start + kept - this.tail)]);
    if (this.dropped === 0) return Buffer.concat([head, tail]);
    const lead = head.length && head[head.length - 1] !== 10 ? '\n' : '';
    const note = Buffer.from(`${lead}${truncationNote(this.dropped, this.head, this.tail)}\n`);
    return Buffer.concat([head, note, tail]);
  }
}

const human = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${+(bytes / 1024 / 1024).toFixed(1)} MiB` : bytes >= 1024 ? `${+(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;

/** The line that stands for dropped output, in executeCommand results and session logs alike. */
export function truncationNote(dropped: number, head: number, tail: number): string {
  return `[shoal: output truncated, ${dropped} bytes omitted here; the first ${human(head)} and the last ${human(tail)} are kept]`;
}
