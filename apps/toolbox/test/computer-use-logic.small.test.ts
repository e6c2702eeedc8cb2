// Computer use: the pure rules in front of xdotool and ImageMagick (key names, hotkeys, regions, image options,
// the parsers of the programs' output). A mistake here reaches the desktop as a wrong key or a wrong crop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolboxError } from '../src/http/errors.js';
import { keyCombo, keysym, parseHotkey } from '../src/computer-use/keys.js';
import { checkPoint, displayNumber, parseEncodeOptions, parseRegion, parseResolution, scaledSize } from '../src/computer-use/options.js';
import { buttonNumber, parseLocation } from '../src/computer-use/input.service.js';
import { convertArgs, parseWindowDump, parseWindowTree } from '../src/computer-use/screen.service.js';
import { TailBuffer } from '../src/computer-use/supervisor.js';
import { drawCursor, encodePng, resize, zpixmapToRgb } from '../src/computer-use/x11-capture.js';
import { inflateSync } from 'node:zlib';

const is400 = (pattern: RegExp) => (err: unknown) => err instanceof ToolboxError && err.statusCode === 400 && pattern.test(err.message);
const screen = { width: 1024, height: 768 };
const q = (s: string) => new URLSearchParams(s);

describe('key names', () => {
  it('maps the reference’s names, X keysym names and single characters', () => {
    assert.equal(keysym('enter'), 'Return');
    assert.equal(keysym('Enter'), 'Return');
    assert.equal(keysym('pagedown'), 'Next');
    assert.equal(keysym('esc'), 'Escape');
    assert.equal(keysym('f5'), 'F5');
    assert.equal(keysym('F12'), 'F12');
    assert.equal(keysym('BackSpace'), 'BackSpace');
    assert.equal(keysym('KP_Enter'), 'KP_Enter');
    assert.equal(keysym('a'), 'a');
    assert.equal(keysym('é'), 'é');
    assert.equal(keysym('+'), 'plus');
    assert.equal(keysym(' '), 'space');
  });
  it('refuses names that are no key with a 400 naming them', () => {
    assert.throws(() => keysym('enterr'), is400(/unknown key "enterr"/));
    assert.throws(() => keysym('F36'), is400(/unknown key/));
    assert.throws(() => keysym('\u0007'), is400(/unknown key/));
    assert.throws(() => keysym('a b'), is400(/unknown key/));
  });
  it('joins modifiers and key for xdotool, refusing unknown modifiers', () => {
    assert.equal(keyCombo('t', ['ctrl', 'Shift']), 'ctrl+shift+t');
    assert.equal(keyCombo('tab', ['cmd']), 'super+Tab');
    assert.equal(keyCombo('enter'), 'Return');
    assert.throws(() => keyCombo('a', ['hyper-ctrl']), is400(/unknown modifier "hyper-ctrl"/));
  });
  it('parses hotkeys: modifiers then a key', () => {
    assert.equal(parseHotkey('ctrl+c'), 'ctrl+c');
    assert.equal(parseHotkey('alt+F4'), 'alt+F4');
    assert.equal(parseHotkey('ctrl+shift+t'), 'ctrl+shift+t');
    assert.equal(parseHotkey(' ctrl + pagedown '), 'ctrl+Next');
    assert.equal(parseHotkey('ctrl++'), 'ctrl+plus');
    assert.equal(parseHotkey('enter'), 'Return');
    assert.equal(parseHotkey('ctrl'), 'ctrl');
    assert.throws(() => parseHotkey('ctrl+'), is400(/malformed hotkey/));
    assert.throws(() => parseHotkey('+c'), is400(/malformed hotkey/));
    assert.throws(() => parseHotkey('   '), is400(/must not be empty/));
    assert.throws(() => parseHotkey('foo+c'), is400(/unknown modifier "foo"/));
    assert.throws(() => parseHotkey('ctrl+nokey'), is400(/unknown key "nokey"/));
  });
});

describe('positions and regions', () => {
  it('accepts points on the screen and refuses the rest', () => {
    checkPoint(0, 0, screen);
    checkPoint(1023, 767, screen);
    assert.throws(() => checkPoint(1024, 0, screen), is400(/outside the display \(1024x768/));
    assert.throws(() => checkPoint(0, 768, screen), is400(/outside the display/));
    assert.throws(() => checkPoint(-1, 5, screen), is400(/outside the display/));
  });
  it('parses a region that lies on the screen', () => {
    assert.deepEqual(parseRegion(q('x=10&y=20&width=100&height=50'), screen), { x: 10, y: 20, width: 100, height: 50 });
    assert.deepEqual(parseRegion(q('x=0&y=0&width=1024&height=768'), screen), { x: 0, y: 0, width: 1024, height: 768 });
  });
  it('refuses missing, non-integer, negative, empty and off-screen regions', () => {
    assert.throws(() => parseRegion(q('x=0&y=0&width=10'), screen), is400(/height is required/));
    assert.throws(() => parseRegion(q('x=1.5&y=0&width=10&height=10'), screen), is400(/x must be an integer/));
    assert.throws(() => parseRegion(q('x=abc&y=0&width=10&height=10'), screen), is400(/x must be an integer/));
    assert.throws(() => parseRegion(q('x=0&y=0&width=-10&height=10'), screen), is400(/must be positive/));
    assert.throws(() => parseRegion(q('x=0&y=0&width=0&height=10'), screen), is400(/must be positive/));
    assert.throws(() => parseRegion(q('x=-1&y=0&width=10&height=10'), screen), is400(/must not be negative/));
    assert.throws(() => parseRegion(q('x=1000&y=0&width=25&height=10'), screen), is400(/outside the display/));
    assert.throws(() => parseRegion(q('x=0&y=700&width=10&height=69'), screen), is400(/outside the display/));
  });
});

describe('image options', () => {
  it('plain screenshots are png at full size', () => {
    assert.deepEqual(parseEncodeOptions(q('show_cursor=true'), false), { format: 'png', quality: 85, scale: 1, showCursor: true });
    assert.deepEqual(parseEncodeOptions(q(''), false), { format: 'png', quality: 85, scale: 1, showCursor: false });
  });
  it('compressed screenshots take format, quality and scale', () => {
    assert.deepEqual(parseEncodeOptions(q('format=jpg&quality=40&scale=0.5'), true), { format: 'jpeg', quality: 40, scale: 0.5, showCursor: false });
    assert.equal(parseEncodeOptions(q('format=WEBP'), true).format, 'webp');
    assert.equal(parseEncodeOptions(q(''), true).format, 'png');
  });
  it('refuses out-of-range or malformed options', () => {
    assert.throws(() => parseEncodeOptions(q('format=gif'), true), is400(/format must be png, jpeg or webp/));
    assert.throws(() => parseEncodeOptions(q('quality=0'), true), is400(/quality must be between 1 and 100/));
    assert.throws(() => parseEncodeOptions(q('quality=101'), true), is400(/quality/));
    assert.throws(() => parseEncodeOptions(q('scale=0.05'), true), is400(/scale must be between 0.1 and 1.0/));
    assert.throws(() => parseEncodeOptions(q('scale=1.5'), true), is400(/scale/));
    assert.throws(() => parseEncodeOptions(q('scale=-0.5'), true), is400(/scale must be a number/));
    assert.throws(() => parseEncodeOptions(q('show_cursor=maybe'), true), is400(/show_cursor must be true or false/));
  });
  it('scales sizes to whole pixels', () => {
    assert.deepEqual(scaledSize({ width: 1024, height: 768 }, 0.5), { width: 512, height: 384 });
    assert.deepEqual(scaledSize({ width: 3, height: 3 }, 0.1), { width: 1, height: 1 });
  });
  it('builds the convert command: cursor drawn before the crop, exact resize, quality for lossy formats only', () => {
    const args = convertArgs({ format: 'jpeg', quality: 60, scale: 0.5, showCursor: true }, { x: 10, y: 20, width: 100, height: 50 }, { x: 30, y: 40 });
    assert.equal(args[0], 'x:root');
    const draw = args.indexOf('-draw');
    const crop = args.indexOf('-crop');
    assert.ok(draw > 0 && crop > draw);
    assert.match(args[draw + 1]!, /^polygon 30,40 30,57 /);
    assert.equal(args[crop + 1], '100x50+10+20');
    assert.equal(args[args.indexOf('-resize') + 1], '50x25!');
    assert.equal(args[args.indexOf('-quality') + 1], '60');
    assert.equal(args.at(-1), 'jpeg:-');
    const png = convertArgs({ format: 'png', quality: 85, scale: 1, showCursor: false }, undefined, undefined);
    assert.deepEqual(png, ['x:root', '-strip', 'png24:-']);
  });
});

describe('desktop settings and program output', () => {
  it('reads VNC_RESOLUTION and DISPLAY, falling back on nonsense', () => {
    assert.deepEqual(parseResolution('1280x720'), { width: 1280, height: 720, depth: 24 });
    assert.deepEqual(parseResolution('1920x1080x16'), { width: 1920, height: 1080, depth: 16 });
    assert.deepEqual(parseResolution('99999x1'), { width: 1024, height: 768, depth: 24 });
    assert.deepEqual(parseResolution(undefined), { width: 1024, height: 768, depth: 24 });
    assert.equal(displayNumber(':0'), 0);
    assert.equal(displayNumber(':12.0'), 12);
    assert.equal(displayNumber('remote:0'), undefined);
  });
  it('maps buttons and refuses unknown ones', () => {
    assert.equal(buttonNumber(undefined), '1');
    assert.equal(buttonNumber('right'), '3');
    assert.equal(buttonNumber('MIDDLE'), '2');
    assert.throws(() => buttonNumber('back'), is400(/unknown button "back"/));
  });
  it('parses xdotool’s pointer location and window dump', () => {
    assert.deepEqual(parseLocation('X=12\nY=34\nSCREEN=0\nWINDOW=99\n'), { x: 12, y: 34 });
    const dump = 'my term\nWindow 11\n  Position: 5,6 (screen: 0)\n  Geometry: 484x316\nEvent Tester\nWindow 22\n  Position: 0,0 (screen: 0)\n  Geometry: 10x20\n';
    assert.deepEqual(parseWindowDump(dump, [11, 22], 22), [
      { id: 11, title: 'my term', x: 5, y: 6, width: 484, height: 316, is_active: false },
      { id: 22, title: 'Event Tester', x: 0, y: 0, width: 10, height: 20, is_active: true },
    ]);
  });
  it('parses xwininfo’s window tree with absolute positions, skipping unnamed windows', () => {
    const tree = [
      '  Root window id: 0x50d (the root window) (has no name)',
      '     0x20020b "Openbox": ("" (none))  1x1+-100+-100  +-100+-100',
      '     0x400001 (has no name): ()  366x285+200+150  +200+150',
      '        0x40000c "red-term: a \\"b\\"": ("xterm" "XTerm")  364x264+1+20  +201+170',
    ].join('\n');
    const parsed = parseWindowTree(tree);
    assert.deepEqual([...parsed.keys()], [0x20020b, 0x40000c]);
    assert.deepEqual(parsed.get(0x40000c), { title: 'red-term: a \\"b\\"', x: 201, y: 170, width: 364, height: 264 });
    assert.deepEqual(parsed.get(0x20020b), { title: 'Openbox', x: -100, y: -100, width: 1, height: 1 });
  });
  it('keeps only the newest output of a process', () => {
    const tail = new TailBuffer(10);
    tail.push('0123456789');
    tail.push('abc');
    assert.equal(tail.text(), '3456789abc');
    tail.push('x'.repeat(25));
    assert.equal(tail.text(), 'x'.repeat(10));
  });
});

describe('direct screen capture: pixels and PNG', () => {
  it('converts 32-bit little-endian and 16-bit 5-6-5 pixels to RGB, skipping row padding', () => {
    // Two pixels per row: #102030 and #ff8000 in BGRX memory order.
    const row = Buffer.from([0x30, 0x20, 0x10, 0, 0x00, 0x80, 0xff, 0]);
    assert.deepEqual([...zpixmapToRgb(Buffer.concat([row, row]), 2, 2, 32, 32, false, [0xff0000, 0xff00, 0xff])], [0x10, 0x20, 0x30, 0xff, 0x80, 0, 0x10, 0x20, 0x30, 0xff, 0x80, 0]);
    // One 16-bit pixel per row padded to 32 bits: pure red (0xf800) then pure blue (0x001f).
    const data = Buffer.from([0x00, 0xf8, 0xaa, 0xaa, 0x1f, 0x00, 0xaa, 0xaa]);
    assert.deepEqual([...zpixmapToRgb(data, 1, 2, 16, 32, false, [0xf800, 0x07e0, 0x001f])], [255, 0, 0, 0, 0, 255]);
  });
  it('encodes an 8-bit RGB PNG whose pixels read back', () => {
    const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const png = encodePng({ width: 3, height: 2, rgb });
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20), png[24], png[25]], [3, 2, 8, 2]);
    const idatAt = png.indexOf('IDAT');
    const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + png.readUInt32BE(idatAt - 4)));
    const back: number[] = [];
    for (let y = 0; y < 2; y++) {
      assert.equal(raw[y * 10], 1, 'Sub filter');
      const row: number[] = [];
      for (let i = 0; i < 9; i++) row.push((raw[y * 10 + 1 + i]! + (i >= 3 ? row[i - 3]! : 0)) & 0xff);
      back.push(...row);
    }
    assert.deepEqual(back, [...rgb]);
  });
  it('downscales by averaging and draws a clipped cursor', () => {
    const img = { width: 2, height: 2, rgb: Buffer.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 100, 100, 100]) };
    assert.deepEqual([...resize(img, 1, 1).rgb], [100, 100, 100]);
    const canvas = { width: 4, height: 4, rgb: Buffer.alloc(48, 7) };
    drawCursor(canvas, 2, 2);
    assert.deepEqual([...canvas.rgb.subarray((2 * 4 + 2) * 3, (2 * 4 + 2) * 3 + 3)], [0, 0, 0], 'the tip is outlined');
    assert.deepEqual([...canvas.rgb.subarray((3 * 4 + 3) * 3, (3 * 4 + 3) * 3 + 3)], [0, 0, 0]);
    assert.deepEqual([...canvas.rgb.subarray(0, 3)], [7, 7, 7], 'nothing above or left of the tip changes');
    drawCursor(canvas, 100, -100);
  });
});
