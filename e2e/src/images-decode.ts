/**
 * Just enough image decoding for the computer-use e2e to check what screenshots hold: PNG (8-bit RGB/RGBA, not
 * interlaced: what ImageMagick and Chromium write) to pixels, and the size of JPEG and WebP files from their headers.
 */
import { inflateSync } from 'node:zlib';

export interface Pixels {
  width: number;
  height: number;
  /** Bytes per pixel: 3 (RGB) or 4 (RGBA). */
  channels: number;
  data: Buffer;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function isPng(b: Buffer): boolean {
  return b.length > 24 && b.subarray(0, 8).equals(PNG_SIGNATURE);
}

export function pngSize(b: Buffer): { width: number; height: number } {
  if (!isPng(b)) throw new Error('not a PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

export function decodePng(b: Buffer): Pixels {
  const { width, height } = pngSize(b);
  const bitDepth = b[24];
  const colorType = b[25];
  const interlace = b[28];
  if (bitDepth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) {
    throw new Error(`unsupported PNG (depth ${bitDepth}, colour type ${colorType}, interlace ${interlace})`);
  }
  const channels = colorType === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let off = 8; off < b.length; ) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idat.push(b.subarray(off + 8, off + 8 + len));
    if (type === 'IEND') break;
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? data[y * stride + x - channels]! : 0;
      const up = y > 0 ? data[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? data[(y - 1) * stride + x - channels]! : 0;
      let v = line[x]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += up;
      else if (filter === 3) v += (a + up) >> 1;
      else if (filter === 4) {
        const p = a + up - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - up);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      }
      data[y * stride + x] = v & 0xff;
    }
  }
  return { width, height, channels, data };
}

/** Share of pixels within `tolerance` (per channel) of `rgb`. */
export function colourShare(p: Pixels, rgb: [number, number, number], tolerance: number): number {
  let hits = 0;
  for (let i = 0; i < p.width * p.height; i++) {
    const o = i * p.channels;
    if (Math.abs(p.data[o]! - rgb[0]) <= tolerance && Math.abs(p.data[o + 1]! - rgb[1]) <= tolerance && Math.abs(p.data[o + 2]! - rgb[2]) <= tolerance) hits++;
  }
  return hits / (p.width * p.height);
}

export function pixelAt(p: Pixels, x: number, y: number): [number, number, number] {
  const o = (y * p.width + x) * p.channels;
  return [p.data[o]!, p.data[o + 1]!, p.data[o + 2]!];
}

/** Size of a baseline or progressive JPEG, from its first SOF marker. */
export function jpegSize(b: Buffer): { width: number; height: number } {
  if (b[0] !== 0xff || b[1] !== 0xd8) throw new Error('not a JPEG');
  for (let off = 2; off + 9 < b.length; ) {
    if (b[off] !== 0xff) throw new Error('corrupt JPEG marker stream');
    const marker = b[off + 1]!;
    const len = b.readUInt16BE(off + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(off + 5), width: b.readUInt16BE(off + 7) };
    }
    off += 2 + len;
  }
  throw new Error('JPEG without a frame header');
}

export function isWebp(b: Buffer): boolean {
  return b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP';
}
