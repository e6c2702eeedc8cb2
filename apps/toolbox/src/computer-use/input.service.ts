import type { MouseClickRequest, MouseDragRequest, MouseMoveRequest, MouseScrollRequest } from '@shoal/contracts';
import type { ToolboxContext } from '../context.js';
import { badRequest, ToolboxError } from '../http/errors.js';
import type { DesktopService } from './desktop.service.js';
import { runX } from './exec.js';
import { keyCombo, parseHotkey } from './keys.js';
import { checkPoint } from './options.js';

const BUTTONS: Record<string, string> = { left: '1', middle: '2', right: '3' };
const MAX_TEXT = 10_000;
const MAX_DELAY_MS = 1_000;
const MAX_SCROLL = 100;
/** xdotool's own default pause between typed characters; some programs drop keys that come faster. */
const DEFAULT_TYPE_DELAY_MS = 12;

export function buttonNumber(button: string | undefined): string {
  const b = BUTTONS[(button ?? 'left').toLowerCase()];
  if (!b) throw badRequest(`unknown button ${JSON.stringify(button)}: use left, right or middle`);
  return b;
}

export function parseLocation(out: string): { x: number; y: number } {
  const x = /^X=(-?\d+)$/m.exec(out)?.[1];
  const y = /^Y=(-?\d+)$/m.exec(out)?.[1];
  if (x === undefined || y === undefined) throw new ToolboxError(500, `xdotool getmouselocation printed ${JSON.stringify(out.trim())}`);
  return { x: Number(x), y: Number(y) };
}

/** Mouse and keyboard through xdotool (XTEST), one xdotool run per request. */
export class InputService {
  constructor(
    private readonly ctx: ToolboxContext,
    private readonly desktop: DesktopService,
  ) {}

  private async xdotool(args: string[], timeoutMs = 15_000): Promise<string> {
    const { xdotool } = this.desktop.requireDisplay();
    return (await runX(this.ctx, xdotool!, args, { display: this.desktop.display, timeoutMs })).toString('utf8');
  }

  async position(): Promise<{ x: number; y: number }> {
    return parseLocation(await this.xdotool(['getmouselocation', '--shell']));
  }

  private async onScreen(points: [number, number, string][]): Promise<void> {
    this.desktop.requireDisplay();
    const size = await this.desktop.screenSize();
    for (const [x, y, what] of points) checkPoint(x, y, size, what);
  }

  async move(req: MouseMoveRequest): Promise<{ x: number; y: number }> {
    await this.onScreen([[req.x, req.y, 'position']]);
    return parseLocation(await this.xdotool(['mousemove', String(req.x), String(req.y), 'getmouselocation', '--shell']));
  }

  async click(req: MouseClickRequest): Promise<{ x: number; y: number }> {
    const button = buttonNumber(req.button);
    await this.onScreen([[req.x, req.y, 'position']]);
    const click = req.double ? ['click', '--repeat', '2', '--delay', '80', button] : ['click', button];
    return parseLocation(await this.xdotool(['mousemove', String(req.x), String(req.y), ...click, 'getmouselocation', '--shell']));
  }

  async drag(req: MouseDragRequest): Promise<{ x: number; y: number }> {
    const button = buttonNumber(req.button);
    await this.onScreen([
      [req.startX, req.startY, 'start position'],
      [req.endX, req.endY, 'end position'],
    ]);
    // The pauses let the application see a press, a motion and a release rather than one coalesced event.
    const out = await this.xdotool([
      'mousemove', String(req.startX), String(req.startY),
      'mousedown', button, 'sleep', '0.05',
      'mousemove', String(req.endX), String(req.endY), 'sleep', '0.05',
      'mouseup', button,
      'getmouselocation', '--shell',
    ]);
    return parseLocation(out);
  }

  async scroll(req: MouseScrollRequest): Promise<{ success: boolean }> {
    const direction = req.direction.toLowerCase();
    // X has no scroll events: buttons 4 and 5 (up, down) and 6 and 7 (left, right) are the wheel.
    const wheel = ({ up: '4', down: '5', left: '6', right: '7' } as Record<string, string>)[direction];
    if (!wheel) throw badRequest(`direction must be up or down, got ${JSON.stringify(req.direction)}`);
    const amount = req.amount ?? 1;
    if (amount < 1 || amount > MAX_SCROLL) throw badRequest(`amount must be between 1 and ${MAX_SCROLL}, got ${amount}`);
    await this.onScreen([[req.x, req.y, 'position']]);
    await this.xdotool(['mousemove', String(req.x), String(req.y), 'click', '--repeat', String(amount), '--delay', '20', wheel]);
    return { success: true };
  }

  async type(text: string, delay: number | undefined): Promise<{ success: boolean; typed: string }> {
    if ([...text].length > MAX_TEXT) throw badRequest(`text is longer than ${MAX_TEXT} characters`);
    if (delay !== undefined && (delay < 0 || delay > MAX_DELAY_MS)) throw badRequest(`delay must be between 0 and ${MAX_DELAY_MS} ms`);
    this.desktop.requireDisplay();
    if (text.length === 0) return { success: true, typed: '' };
    const ms = delay ?? DEFAULT_TYPE_DELAY_MS;
    await this.xdotool(['type', '--delay', String(ms), '--', text], 15_000 + [...text].length * (ms + 20));
    return { success: true, typed: text };
  }

  async press(key: string, modifiers: string[] = []): Promise<{ success: boolean; key: string; modifiers: string[] }> {
    const combo = keyCombo(key, modifiers);
    await this.xdotool(['key', '--', combo]);
    return { success: true, key, modifiers };
  }

  async hotkey(keys: string): Promise<{ success: boolean; hotkey: string }> {
    const combo = parseHotkey(keys);
    await this.xdotool(['key', '--', combo]);
    return { success: true, hotkey: keys };
  }
}
