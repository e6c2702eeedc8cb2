import { badRequest } from '../http/errors.js';

/*
 * Query and body checks of the computer-use routes, kept free of I/O so they are tested on their own. Everything
 * arrives as query strings (screenshots) or JSON numbers (mouse): both are checked to be whole numbers in range.
 */

export interface Size {
  width: number;
  height: number;
}

export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface EncodeOptions {
  format: ImageFormat;
  /** 1..100; used by jpeg and webp. */
  quality: number;
  /** 0.1..1: the output is this fraction of the captured size. */
  scale: number;
  showCursor: boolean;
}

export const DEFAULT_QUALITY = 85;

function integer(name: string, raw: string | null | undefined, required: boolean): number | undefined {
  if (raw === null || raw === undefined || raw === '') {
    if (required) throw badRequest(`${name} is required`);
    return undefined;
  }
  if (!/^-?\d{1,9}$/.test(raw.trim())) throw badRequest(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return Number(raw.trim());
}

export function booleanParam(name: string, raw: string | null): boolean {
  if (raw === null || raw === '') return false;
  const v = raw.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw badRequest(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** A point on the screen: 0 <= x < width, 0 <= y < height. */
export function checkPoint(x: number, y: number, screen: Size, what = 'position'): void {
  if (!Number.isInteger(x) || !Number.isInteger(y)) throw badRequest(`${what} must be whole pixels`);
  if (x < 0 || y < 0 || x >= screen.width || y >= screen.height) {
    throw badRequest(`${what} (${x}, ${y}) is outside the display (${screen.width}x${screen.height}; x 0..${screen.width - 1}, y 0..${screen.height - 1})`);
  }
}

/** The region of a region screenshot: positive size, entirely on the screen. */
export function parseRegion(query: URLSearchParams, screen: Size): Region {
  const x = integer('x', query.get('x'), true)!;
  const y = integer('y', query.get('y'), true)!;
  const width = integer('width', query.get('width'), true)!;
  const height = integer('height', query.get('height'), true)!;
  if (width <= 0 || height <= 0) throw badRequest(`width and height must be positive, got ${width}x${height}`);
  if (x < 0 || y < 0) throw badRequest(`x and y must not be negative, got (${x}, ${y})`);
  if (x + width > screen.width || y + height > screen.height) {
    throw badRequest(`region ${width}x${height}+${x}+${y} is outside the display (${screen.width}x${screen.height})`);
  }
  return { x, y, width, height };
}

export function parseEncodeOptions(query: URLSearchParams, compressed: boolean): EncodeOptions {
  const showCursor = booleanParam('show_cursor', query.get('show_cursor'));
  if (!compressed) return { format: 'png', quality: DEFAULT_QUALITY, scale: 1, showCursor };
  const rawFormat = (query.get('format') ?? '').toLowerCase() || 'png';
  const format: ImageFormat | undefined = rawFormat === 'jpg' ? 'jpeg' : (['png', 'jpeg', 'webp'] as const).find((f) => f === rawFormat);
  if (!format) throw badRequest(`format must be png, jpeg or webp, got ${JSON.stringify(query.get('format'))}`);
  const quality = integer('quality', query.get('quality'), false) ?? DEFAULT_QUALITY;
  if (quality < 1 || quality > 100) throw badRequest(`quality must be between 1 and 100, got ${quality}`);
  const rawScale = query.get('scale');
  let scale = 1;
  if (rawScale !== null && rawScale !== '') {
    if (!/^\d*\.?\d+$/.test(rawScale.trim())) throw badRequest(`scale must be a number, got ${JSON.stringify(rawScale)}`);
    scale = Number(rawScale);
    if (!(scale >= 0.1 && scale <= 1)) throw badRequest(`scale must be between 0.1 and 1.0, got ${rawScale}`);
  }
  return { format, quality, scale, showCursor };
}

/** The size of a capture of `size` scaled by `scale` (at least one pixel each way). */
export function scaledSize(size: Size, scale: number): Size {
  return { width: Math.max(1, Math.round(size.width * scale)), height: Math.max(1, Math.round(size.height * scale)) };
}

/** "1024x768" or "1024x768x24" (VNC_RESOLUTION), within what Xvfb and a browser viewer handle. */
export function parseResolution(raw: string | undefined): { width: number; height: number; depth: number } {
  const fallback = { width: 1024, height: 768, depth: 24 };
  const m = /^\s*(\d{2,5})x(\d{2,5})(?:x(\d{1,2}))?\s*$/.exec(raw ?? '');
  if (!m) return fallback;
  const width = Number(m[1]);
  const height = Number(m[2]);
  const depth = m[3] ? Number(m[3]) : 24;
  if (width < 320 || height < 200 || width > 7680 || height > 4320 || ![8, 16, 24].includes(depth)) return fallback;
  return { width, height, depth };
}

/** ":0", ":1.0" -> the display number; anything else (a remote display) is refused. */
export function displayNumber(display: string): number | undefined {
  const m = /^:(\d{1,4})(?:\.\d+)?$/.exec(display.trim());
  return m ? Number(m[1]) : undefined;
}
