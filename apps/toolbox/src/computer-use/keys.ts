import { badRequest } from '../http/errors.js';

/*
 * Key names as callers of the reference write them (lower-case words such as "enter", "pagedown", "cmd") mapped to
 * the X keysym names xdotool understands. X keysym names themselves ("Return", "XF86AudioMute") are accepted too,
 * and so is any single character. Anything else is refused before xdotool sees it: xdotool prints a warning and
 * presses nothing for a name it does not know, which would look like success.
 */
const ALIASES: Record<string, string> = {
  enter: 'Return',
  return: 'Return',
  tab: 'Tab',
  esc: 'Escape',
  escape: 'Escape',
  backspace: 'BackSpace',
  delete: 'Delete',
  del: 'Delete',
  insert: 'Insert',
  ins: 'Insert',
  space: 'space',
  up: 'Up',
  down: 'Down',
  left: 'Left',
  right: 'Right',
  home: 'Home',
  end: 'End',
  pageup: 'Prior',
  pgup: 'Prior',
  pagedown: 'Next',
  pgdn: 'Next',
  capslock: 'Caps_Lock',
  numlock: 'Num_Lock',
  scrolllock: 'Scroll_Lock',
  printscreen: 'Print',
  print: 'Print',
  pause: 'Pause',
  menu: 'Menu',
  plus: 'plus',
  minus: 'minus',
  comma: 'comma',
  period: 'period',
  slash: 'slash',
  backslash: 'backslash',
  semicolon: 'semicolon',
  quote: 'apostrophe',
  backquote: 'grave',
  equal: 'equal',
  audio_mute: 'XF86AudioMute',
  audio_vol_up: 'XF86AudioRaiseVolume',
  audio_vol_down: 'XF86AudioLowerVolume',
  audio_play: 'XF86AudioPlay',
  audio_stop: 'XF86AudioStop',
  audio_pause: 'XF86AudioPause',
  audio_prev: 'XF86AudioPrev',
  audio_next: 'XF86AudioNext',
};

const MODIFIERS: Record<string, string> = {
  ctrl: 'ctrl',
  control: 'ctrl',
  lctrl: 'Control_L',
  rctrl: 'Control_R',
  alt: 'alt',
  lalt: 'Alt_L',
  ralt: 'Alt_R',
  shift: 'shift',
  lshift: 'Shift_L',
  rshift: 'Shift_R',
  super: 'super',
  cmd: 'super',
  command: 'super',
  win: 'super',
  meta: 'super',
};

/** X keysym names (beyond single characters and the aliases' targets) a caller may give as they are. */
const KEYSYMS = new Set<string>([
  ...Object.values(ALIASES),
  ...Object.values(MODIFIERS).filter((m) => m.includes('_')),
  'Super_L', 'Super_R', 'Meta_L', 'Meta_R', 'Hyper_L', 'Hyper_R', 'ISO_Level3_Shift', 'Mode_switch',
  'Clear', 'Linefeed', 'Sys_Req', 'Break', 'Begin', 'Select', 'Execute', 'Undo', 'Redo', 'Find', 'Cancel', 'Help',
  'Page_Up', 'Page_Down', 'KP_Enter', 'KP_Add', 'KP_Subtract', 'KP_Multiply', 'KP_Divide', 'KP_Decimal', 'KP_Separator',
  'KP_Equal', 'KP_Home', 'KP_End', 'KP_Up', 'KP_Down', 'KP_Left', 'KP_Right', 'KP_Prior', 'KP_Next', 'KP_Insert',
  'KP_Delete', 'KP_Begin', 'KP_Space', 'KP_Tab',
  ...Array.from({ length: 10 }, (_, i) => `KP_${i}`),
  ...Array.from({ length: 35 }, (_, i) => `F${i + 1}`),
  'exclam', 'quotedbl', 'numbersign', 'dollar', 'percent', 'ampersand', 'apostrophe', 'parenleft', 'parenright',
  'asterisk', 'colon', 'less', 'greater', 'question', 'at', 'bracketleft', 'bracketright', 'asciicircum',
  'underscore', 'braceleft', 'braceright', 'bar', 'asciitilde',
  'XF86AudioMute', 'XF86AudioRaiseVolume', 'XF86AudioLowerVolume', 'XF86AudioPlay', 'XF86AudioStop',
  'XF86AudioPause', 'XF86AudioPrev', 'XF86AudioNext', 'XF86Back', 'XF86Forward', 'XF86Reload', 'XF86HomePage',
  'XF86Search', 'XF86Copy', 'XF86Paste', 'XF86Cut',
]);
const KEYSYMS_LOWER = new Map([...KEYSYMS].map((k) => [k.toLowerCase(), k]));

/** The keysym for one key name, or a 400 naming it. */
export function keysym(name: string): string {
  if ([...name].length === 1) {
    // A single character: xdotool maps it to its keysym (letters, digits, punctuation, any Unicode character).
    const ch = name;
    if (/[\p{Cc}]/u.test(ch) && ch !== '\n' && ch !== '\t') throw badRequest(`unknown key ${JSON.stringify(name)}`);
    if (ch === '\n') return 'Return';
    if (ch === '\t') return 'Tab';
    if (ch === ' ') return 'space';
    if (ch === '+') return 'plus';
    return ch;
  }
  const lower = name.toLowerCase();
  const alias = ALIASES[lower] ?? MODIFIERS[lower];
  if (alias) return alias;
  const known = KEYSYMS.has(name) ? name : KEYSYMS_LOWER.get(lower);
  if (known) return known;
  throw badRequest(`unknown key ${JSON.stringify(name)}: use a single character, a name such as enter, tab, escape, backspace, up, f5, or an X keysym name`);
}

export function modifier(name: string): string {
  const m = MODIFIERS[name.toLowerCase()];
  if (!m) throw badRequest(`unknown modifier ${JSON.stringify(name)}: use ctrl, alt, shift or super (cmd)`);
  return m;
}

/** The xdotool `key` argument for a key pressed with modifiers: "ctrl+shift+t". */
export function keyCombo(key: string, modifiers: string[] = []): string {
  if (modifiers.length > 8) throw badRequest('too many modifiers');
  return [...modifiers.map(modifier), keysym(key)].join('+');
}

/**
 * A hotkey as the SDK sends it ("ctrl+c", "alt+F4", "ctrl+shift+t", "ctrl++"): every part but the last is a
 * modifier, the last one is a key.
 */
export function parseHotkey(keys: string): string {
  const text = keys.trim();
  if (!text) throw badRequest('keys must not be empty');
  // "ctrl++" names the plus key: a trailing "+" after a separator is the key itself.
  const parts = text.endsWith('++') ? [...text.slice(0, -2).split('+'), '+'] : text.split('+');
  if (parts.some((p) => p.trim() === '')) throw badRequest(`malformed hotkey ${JSON.stringify(keys)}: write keys joined by "+", e.g. ctrl+c`);
  const names = parts.map((p) => p.trim());
  const last = names.pop()!;
  // A combination of modifiers only ("ctrl+shift") presses them together.
  if (names.length === 0 && MODIFIERS[last.toLowerCase()]) return modifier(last);
  return keyCombo(last, names);
}
