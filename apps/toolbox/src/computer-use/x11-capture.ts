import { connect, type Socket } from 'node:net';
import { deflateSync } from 'node:zlib';
import type { Region, Size } from './options.js';

/*
 * Screen capture over the X11 protocol itself: one connection to the display's socket, the connection setup, and
 * one GetImage of the root window. ImageMagick's X reader does the same but converts every pixel to its 16-bit
 * internal format and costs a program start, several times slower than this for a 1024x768 screen. Only what a
 * screenshot needs is implemented: no authentication (the desktop's Xvfb runs with -ac), little- or big-endian
 * TrueColor ZPixmap images of 16, 24 or 32 bits per pixel.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** 3 bytes per pixel, rows top to bottom, no padding. */
  rgb: Buffer;
}

interface Setup {
  root: number;
  width: number;
  height: number;
  rootDepth: number;
  bitsPerPixel: number;
  scanlinePad: number;
  msbFirst: boolean;
  masks: [number, number, number];
}

const SOCKET_DIR = '/tmp/.X11-unix';

class Reader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.have += c.length;
      this.pump();
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      this.waiting?.reject(this.failure);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the X server closed the connection')));
  }

  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.pump();
    });
  }

  private pump(): void {
    if (!this.waiting || this.have < this.waiting.n) return;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const { n, resolve } = this.waiting;
    this.waiting = undefined;
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    resolve(out);
  }
}

function parseSetup(b: Buffer): Setup {
  const vendorLength = b.readUInt16LE(24 - 8);
  const screens = b[28 - 8]!;
  const formats = b[29 - 8]!;
  const msbFirst = b[30 - 8] === 1;
  let pos = 40 - 8 + Math.ceil(vendorLength / 4) * 4;
  const pixmapFormats = new Map<number, { bpp: number; pad: number }>();
  for (let i = 0; i < formats; i++, pos += 8) pixmapFormats.set(b[pos]!, { bpp: b[pos + 1]!, pad: b[pos + 2]! });
  if (screens < 1) throw new Error('the X server has no screen');
  const root = b.readUInt32LE(pos);
  const width = b.readUInt16LE(pos + 20);
  const height = b.readUInt16LE(pos + 22);
  const rootVisual = b.readUInt32LE(pos + 32);
  const rootDepth = b[pos + 38]!;
  const depths = b[pos + 39]!;
  pos += 40;
  let masks: [number, number, number] | undefined;
  for (let d = 0; d < depths; d++) {
    const visuals = b.readUInt16LE(pos + 2);
    pos += 8;
    for (let v = 0; v < visuals; v++, pos += 24) {
      // Class 4 is TrueColor: the pixel value holds the colour through the masks.
      if (b.readUInt32LE(pos) === rootVisual && b[pos + 4] === 4) masks = [b.readUInt32LE(pos + 8), b.readUInt32LE(pos + 12), b.readUInt32LE(pos + 16)];
    }
  }
  const format = pixmapFormats.get(rootDepth);
  if (!masks || !format) throw new Error('the root window is not a TrueColor visual');
  if (![16, 24, 32].includes(format.bpp)) throw new Error(`${format.bpp} bits per pixel are not supported`);
  return { root, width, height, rootDepth, bitsPerPixel: format.bpp, scanlinePad: format.pad, msbFirst, masks };
}

function channel(mask: number): { shift: number; max: number } {
  let shift = 0;
  while (shift < 32 && ((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/** Converts a ZPixmap image to packed RGB. */
export function zpixmapToRgb(data: Buffer, width: number, height: number, bpp: number, pad: number, msbFirst: boolean, masks: [number, number, number]): Buffer {
  const stride = Math.ceil((width * bpp) / pad) * (pad / 8);
  const bytes = bpp / 8;
  const [r, g, b] = masks.map(channel) as [ReturnType<typeof channel>, ReturnType<typeof channel>, ReturnType<typeof channel>];
  const scale = (v: number, c: { max: number }) => (c.max === 255 ? v : Math.round((v * 255) / c.max));
  const out = Buffer.alloc(width * height * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    let p = y * stride;
    for (let x = 0; x < width; x++, p += bytes) {
      let pixel: number;
      if (bytes === 4) pixel = msbFirst ? data.readUInt32BE(p) : data.readUInt32LE(p);
      else if (bytes === 2) pixel = msbFirst ? data.readUInt16BE(p) : data.readUInt16LE(p);
      else pixel = msbFirst ? data.readUIntBE(p, 3) : data.readUIntLE(p, 3);
      out[o++] = scale((pixel >>> r.shift) & r.max, r);
      out[o++] = scale((pixel >>> g.shift) & g.max, g);
      out[o++] = scale((pixel >>> b.shift) & b.max, b);
    }
  }
  return out;
}

interface Connection {
  setup: Setup;
  socket: Socket;
  reader: Reader;
  close(): void;
}

async function openDisplay(displayNumber: number, timeoutMs: number): Promise<Connection> {
  const socket = connect(`${SOCKET_DIR}/X${displayNumber}`);
  const reader = new Reader(socket);
  const timer = setTimeout(() => socket.destroy(new Error(`no answer from the X server within ${timeoutMs} ms`)), timeoutMs);
  const close = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  try {
    // Connection setup: little-endian client, protocol 11.0, no authorization.
    const hello = Buffer.alloc(12);
    hello[0] = 0x6c;
    hello.writeUInt16LE(11, 2);
    socket.write(hello);
    const head = await reader.read(8);
    const rest = await reader.read(head.readUInt16LE(6) * 4);
    if (head[0] !== 1) {
      const reason = head[0] === 0 ? rest.subarray(0, head[1]).toString('latin1') : 'authentication required';
      throw new Error(`the X server refused the connection: ${reason}`);
    }
    return { setup: parseSetup(rest), socket, reader, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** The size of display `:n`'s screen, from the connection setup alone. */
export async function screenSizeOf(displayNumber: number, timeoutMs = 5_000): Promise<Size> {
  const conn = await openDisplay(displayNumber, timeoutMs);
  conn.close();
  return { width: conn.setup.width, height: conn.setup.height };
}

/**
 * Reads the root window's pixels from display `:n`: the region `pick` chooses once it knows the screen's size (all
 * of the screen when it returns undefined). Errors `pick` throws (a region off the screen) come out unchanged.
 */
export async function captureRoot(displayNumber: number, pick: (size: Size) => Region | undefined, timeoutMs = 10_000): Promise<RgbImage> {
  const conn = await openDisplay(displayNumber, timeoutMs);
  try {
    const { setup, socket, reader } = conn;
    const r = pick({ width: setup.width, height: setup.height }) ?? { x: 0, y: 0, width: setup.width, height: setup.height };
    const req = Buffer.alloc(20);
    req[0] = 73; // GetImage
    req[1] = 2; // ZPixmap
    req.writeUInt16LE(5, 2);
    req.writeUInt32LE(setup.root, 4);
    req.writeInt16LE(r.x, 8);
    req.writeInt16LE(r.y, 10);
    req.writeUInt16LE(r.width, 12);
    req.writeUInt16LE(r.height, 14);
    req.writeUInt32LE(0xffffffff, 16);
    socket.write(req);
    const reply = await reader.read(32);
    if (reply[0] === 0) throw new Error(`the X server answered GetImage with error ${reply[1]}`);
    const data = await reader.read(reply.readUInt32LE(4) * 4);
    const rgb = zpixmapToRgb(data, r.width, r.height, setup.bitsPerPixel, setup.scanlinePad, setup.msbFirst, setup.masks);
    return { width: r.width, height: r.height, rgb };
  } finally {
    conn.close();
  }
}

/** A pointer arrow (1 outline, 2 fill), drawn into screenshots taken with show_cursor: X captures never contain the cursor. */
const ARROW = [
  '1',
  '11',
  '121',
  '1221',
  '12221',
  '122221',
  '1222221',
  '12222221',
  '122222221',
  '1222222221',
  '12222211111',
  '1221221',
  '121 1221',
  '11  1221',
  '1    1221',
  '     1221',
  '      11',
];

/** Draws the arrow with its tip at (x, y) of the image (clipped at the edges). */
export function drawCursor(image: RgbImage, x: number, y: number): void {
  ARROW.forEach((row, dy) => {
    [...row].forEach((cell, dx) => {
      const px = x + dx;
      const py = y + dy;
      if (cell === ' ' || px < 0 || py < 0 || px >= image.width || py >= image.height) return;
      image.rgb.fill(cell === '1' ? 0 : 255, (py * image.width + px) * 3, (py * image.width + px) * 3 + 3);
    });
  });
}

/** Downscales by averaging the source pixels each output pixel covers. */
export function resize(image: RgbImage, width: number, height: number): RgbImage {
  if (width === image.width && height === image.height) return image;
  const out = Buffer.alloc(width * height * 3);
  const fx = image.width / width;
  const fy = image.height / height;
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y * fy);
    const y1 = Math.max(y0 + 1, Math.min(image.height, Math.floor((y + 1) * fy)));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor(x * fx);
      const x1 = Math.max(x0 + 1, Math.min(image.width, Math.floor((x + 1) * fx)));
      let r = 0, g = 0, b = 0;
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * image.width + sx) * 3;
          r += image.rgb[i]!;
          g += image.rgb[i + 1]!;
          b += image.rgb[i + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * width + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return { width, height, rgb: out };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGB PNG (each row with the "Sub" filter, which suits screens' flat areas). */
export function encodePng(image: RgbImage): Buffer {
  const { width, height, rgb } = image;
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    raw[o] = 1;
    const row = y * stride;
    for (let i = 0; i < stride; i++) raw[o + 1 + i] = (rgb[row + i]! - (i >= 3 ? rgb[row + i - 3]! : 0)) & 0xff;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
