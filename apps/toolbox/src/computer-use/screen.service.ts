import type { ToolboxContext } from '../context.js';
import type { DesktopService } from './desktop.service.js';
import { runX } from './exec.js';
import { parseLocation } from './input.service.js';
import { ToolboxError } from '../http/errors.js';
import { displayNumber, parseEncodeOptions, parseRegion, scaledSize, type EncodeOptions, type Region, type Size } from './options.js';
import { captureRoot, drawCursor, encodePng, resize, type RgbImage } from './x11-capture.js';

export interface Screenshot {
  screenshot: string;
  cursorPosition?: { x: number; y: number };
  sizeBytes: number;
}

export interface WindowInfo {
  id: number;
  title: string;
  x: number;
  y: number;
  width: number;
  height: number;
  is_active: boolean;
}

/** A pointer arrow drawn into screenshots taken with show_cursor (X screen captures never contain the cursor). */
const ARROW: [number, number][] = [[0, 0], [0, 17], [4, 13], [7, 20], [10, 19], [7, 12], [12, 12]];

/** The ImageMagick `convert` arguments that capture the screen and produce the requested image on stdout. */
export function convertArgs(options: EncodeOptions, region: Region | undefined, cursor: { x: number; y: number } | undefined): string[] {
  const args = ['x:root'];
  if (cursor) {
    const points = ARROW.map(([dx, dy]) => `${cursor.x + dx},${cursor.y + dy}`).join(' ');
    args.push('-fill', 'white', '-stroke', 'black', '-strokewidth', '1', '-draw', `polygon ${points}`);
  }
  if (region) args.push('-crop', `${region.width}x${region.height}+${region.x}+${region.y}`, '+repage');
  // A scaled capture always comes with a region (the whole screen at least), so the output size is exact.
  if (region && options.scale !== 1) {
    const { width, height } = scaledSize(region, options.scale);
    args.push('-resize', `${width}x${height}!`);
  }
  if (options.format !== 'png') args.push('-quality', String(options.quality));
  // No metadata (timestamps) in the file: the same screen gives the same bytes. PNGs are always 8-bit RGB, as the
  // reference's are: left to itself ImageMagick picks palette or 1-bit grey files for plain areas.
  args.push('-strip', `${options.format === 'png' ? 'png24' : options.format}:-`);
  return args;
}

/** Screenshots, display geometry and the window list. */
export class ScreenService {
  constructor(
    private readonly ctx: ToolboxContext,
    private readonly desktop: DesktopService,
    /** false: always capture with ImageMagick (the fallback path, which tests exercise on its own). */
    private readonly directCapture = true,
  ) {}

  private async pointer(): Promise<{ x: number; y: number }> {
    const { xdotool } = this.desktop.requireDisplay();
    const out = await runX(this.ctx, xdotool!, ['getmouselocation', '--shell'], { display: this.desktop.display, timeoutMs: 5_000 });
    return parseLocation(out.toString());
  }

  async screenshot(query: URLSearchParams, kind: { region: boolean; compressed: boolean }): Promise<Screenshot> {
    const { convert } = this.desktop.requireDisplay();
    const options = parseEncodeOptions(query, kind.compressed);
    let region: Region | undefined;
    const pick = (size: Size) => {
      region = kind.region ? parseRegion(query, size) : undefined;
      // A scaled full screen is resized to an exact size, the same rounding a region gets.
      if (!region && options.scale !== 1) region = { x: 0, y: 0, ...size };
      return region;
    };
    const cursor = options.showCursor ? await this.pointer() : undefined;
    let pixels: RgbImage | undefined;
    try {
      if (this.directCapture) pixels = await captureRoot(displayNumber(this.desktop.display)!, pick);
    } catch (err) {
      if (err instanceof ToolboxError) throw err;
      // ImageMagick's own X reader still works where this small client does not (an unusual visual, say).
      this.ctx.log(`computer use: direct screen capture failed (${(err as Error).message}); using ImageMagick`);
    }
    let image: Buffer;
    if (pixels) {
      image = await this.encode(pixels, options, region, cursor);
    } else {
      pick(await this.desktop.screenSize());
      image = await runX(this.ctx, convert!, convertArgs(options, region, cursor), { display: this.desktop.display, timeoutMs: 30_000 });
    }
    return { screenshot: image.toString('base64'), ...(cursor ? { cursorPosition: cursor } : {}), sizeBytes: image.length };
  }

  private async encode(pixels: RgbImage, options: EncodeOptions, region: Region | undefined, cursor: { x: number; y: number } | undefined): Promise<Buffer> {
    let image = pixels;
    if (cursor) drawCursor(image, cursor.x - (region?.x ?? 0), cursor.y - (region?.y ?? 0));
    if (options.scale !== 1) {
      const size = scaledSize(image, options.scale);
      image = resize(image, size.width, size.height);
    }
    if (options.format === 'png') return encodePng(image);
    const { convert } = this.desktop.requireDisplay();
    const args = ['-size', `${image.width}x${image.height}`, '-depth', '8', 'rgb:-', '-quality', String(options.quality), '-strip', `${options.format}:-`];
    return runX(this.ctx, convert!, args, { display: this.desktop.display, timeoutMs: 30_000, input: image.rgb });
  }

  async displayInfo(): Promise<{ displays: Record<string, unknown>[] }> {
    const { width, height } = await this.desktop.screenSize();
    return { displays: [{ id: 0, x: 0, y: 0, width, height, is_active: true }] };
  }

  /** Visible windows that have a title (the window manager's frames and decorations have none). */
  async windows(): Promise<{ windows: WindowInfo[]; count: number }> {
    const { xdotool, xwininfo } = this.desktop.requireDisplay();
    const run = (file: string, args: string[]) =>
      runX(this.ctx, file, args, { display: this.desktop.display, timeoutMs: 10_000 }).then((b) => b.toString('utf8'));
    // `search` exits 1 when nothing matches.
    const ids = (await run(xdotool!, ['search', '--onlyvisible', '--name', '.']).catch(() => ''))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^\d+$/.test(l))
      .map(Number)
      .slice(0, 500);
    if (ids.length === 0) return { windows: [], count: 0 };
    const active = await run(xdotool!, ['getactivewindow']).then((o) => Number(o.trim()), () => undefined);
    let windows: WindowInfo[];
    if (xwininfo) {
      const tree = parseWindowTree(await run(xwininfo, ['-root', '-tree']));
      windows = ids.flatMap((id) => {
        const w = tree.get(id);
        return w ? [{ id, ...w, is_active: id === active }] : [];
      });
    } else {
      windows = parseWindowDump(await run(xdotool!, ids.flatMap((id) => ['getwindowname', String(id), 'getwindowgeometry', String(id)])), ids, active);
    }
    return { windows, count: windows.length };
  }
}

/**
 * Parses `xwininfo -root -tree`: one line per window, `0x40000c "title": ("xterm" "XTerm")  364x264+1+20  +201+170`,
 * the last pair being the absolute position. Windows without a name are left out.
 */
export function parseWindowTree(out: string): Map<number, Omit<WindowInfo, 'id' | 'is_active'>> {
  const windows = new Map<number, Omit<WindowInfo, 'id' | 'is_active'>>();
  for (const line of out.split('\n')) {
    const m = /^\s*(0x[0-9a-f]+) "(.*)": \(.*\)\s+(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)\s*$/.exec(line);
    if (!m) continue;
    windows.set(parseInt(m[1]!, 16), { title: m[2]!, x: Number(m[5]), y: Number(m[6]), width: Number(m[3]), height: Number(m[4]) });
  }
  return windows;
}

/**
 * Parses xdotool's output for `getwindowname ID getwindowgeometry ID ...` (used when xwininfo is missing): per
 * window a title line, then "Window ID", "  Position: X,Y (screen: N)" and "  Geometry: WxH".
 */
export function parseWindowDump(out: string, ids: number[], active: number | undefined): WindowInfo[] {
  const lines = out.split('\n');
  const windows: WindowInfo[] = [];
  let i = 0;
  for (const id of ids) {
    const header = lines.findIndex((l, n) => n > i && l === `Window ${id}`);
    if (header < 0) continue;
    const title = lines.slice(i, header).join('\n');
    const pos = /Position:\s*(-?\d+),(-?\d+)/.exec(lines[header + 1] ?? '');
    const geo = /Geometry:\s*(\d+)x(\d+)/.exec(lines[header + 2] ?? '');
    windows.push({
      id,
      title,
      x: pos ? Number(pos[1]) : 0,
      y: pos ? Number(pos[2]) : 0,
      width: geo ? Number(geo[1]) : 0,
      height: geo ? Number(geo[2]) : 0,
      is_active: id === active,
    });
    i = header + 3;
  }
  return windows;
}
