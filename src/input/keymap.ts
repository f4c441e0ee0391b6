// Keys in the names QEMU's input-send-event takes (QKeyCode, qapi/ui.json).
//
// Two ways in: an RFB KeyEvent carries only a keysym, which says what character the client's
// layout produced, not which key; we map it to the key of a US layout (the guest's layout then
// decides the character, so only US-layout guests get exactly that character). The QEMU extended
// key event also carries the XT scancode of the physical key: that maps to a key without any
// layout guess, so any layout works when client and guest agree. Tables after keycodemapdb
// (the source of QEMU's own tables) and X11's keysymdef.h.

/** XT set 1 make codes; two-byte 0xE0 xx codes are 0x80 | xx (the QEMU / rfbproto encoding). */
const XT_TO_QCODE: Record<number, string> = {
  0x01: 'esc', 0x02: '1', 0x03: '2', 0x04: '3', 0x05: '4', 0x06: '5', 0x07: '6', 0x08: '7', 0x09: '8', 0x0a: '9',
  0x0b: '0', 0x0c: 'minus', 0x0d: 'equal', 0x0e: 'backspace', 0x0f: 'tab',
  0x10: 'q', 0x11: 'w', 0x12: 'e', 0x13: 'r', 0x14: 't', 0x15: 'y', 0x16: 'u', 0x17: 'i', 0x18: 'o', 0x19: 'p',
  0x1a: 'bracket_left', 0x1b: 'bracket_right', 0x1c: 'ret', 0x1d: 'ctrl',
  0x1e: 'a', 0x1f: 's', 0x20: 'd', 0x21: 'f', 0x22: 'g', 0x23: 'h', 0x24: 'j', 0x25: 'k', 0x26: 'l',
  0x27: 'semicolon', 0x28: 'apostrophe', 0x29: 'grave_accent', 0x2a: 'shift', 0x2b: 'backslash',
  0x2c: 'z', 0x2d: 'x', 0x2e: 'c', 0x2f: 'v', 0x30: 'b', 0x31: 'n', 0x32: 'm',
  0x33: 'comma', 0x34: 'dot', 0x35: 'slash', 0x36: 'shift_r', 0x37: 'kp_multiply', 0x38: 'alt', 0x39: 'spc',
  0x3a: 'caps_lock', 0x3b: 'f1', 0x3c: 'f2', 0x3d: 'f3', 0x3e: 'f4', 0x3f: 'f5', 0x40: 'f6', 0x41: 'f7', 0x42: 'f8',
  0x43: 'f9', 0x44: 'f10', 0x45: 'num_lock', 0x46: 'scroll_lock',
  0x47: 'kp_7', 0x48: 'kp_8', 0x49: 'kp_9', 0x4a: 'kp_subtract', 0x4b: 'kp_4', 0x4c: 'kp_5', 0x4d: 'kp_6',
  0x4e: 'kp_add', 0x4f: 'kp_1', 0x50: 'kp_2', 0x51: 'kp_3', 0x52: 'kp_0', 0x53: 'kp_decimal', 0x54: 'sysrq',
  0x56: 'less', 0x57: 'f11', 0x58: 'f12', 0x59: 'kp_equals',
  0x70: 'katakanahiragana', 0x73: 'ro', 0x79: 'henkan', 0x7b: 'muhenkan', 0x7d: 'yen', 0x7e: 'kp_comma',
  // 0xE0-prefixed
  0x90: 'audioprev', 0x99: 'audionext', 0x9c: 'kp_enter', 0x9d: 'ctrl_r', 0xa0: 'audiomute', 0xa1: 'calculator',
  0xa2: 'audioplay', 0xa4: 'audiostop', 0xae: 'volumedown', 0xb0: 'volumeup', 0xb2: 'ac_home',
  0xb5: 'kp_divide', 0xb7: 'print', 0xb8: 'alt_r', 0xc6: 'pause', 0xc7: 'home', 0xc8: 'up', 0xc9: 'pgup',
  0xcb: 'left', 0xcd: 'right', 0xcf: 'end', 0xd0: 'down', 0xd1: 'pgdn', 0xd2: 'insert', 0xd3: 'delete',
  0xdb: 'meta_l', 0xdc: 'meta_r', 0xdd: 'compose', 0xde: 'power', 0xdf: 'sleep', 0xe3: 'wake',
  0xe5: 'ac_forward', 0xe6: 'ac_bookmarks', 0xe7: 'ac_refresh', 0xea: 'ac_back', 0xec: 'mail', 0xed: 'mediaselect',
  0xeb: 'computer',
};

/**
 * qcode of an XT scancode as clients send it in the extended key event: 0x00..0x7F plain,
 * 0x80 | xx for E0 xx; the spelling 0xE0xx is accepted too. undefined when unknown.
 */
export function xtScancodeToQcode(scancode: number): string | undefined {
  let code = scancode >>> 0;
  if (code >= 0xe000 && code <= 0xe07f) code = 0x80 | (code & 0x7f);
  if (code > 0xff) return undefined;
  return XT_TO_QCODE[code];
}

/** Printable ASCII on a US layout: the key that types it (shifted symbols share their key). */
const US_ASCII: Record<string, string> = {
  ' ': 'spc', '-': 'minus', _: 'minus', '=': 'equal', '+': 'equal', '[': 'bracket_left', '{': 'bracket_left',
  ']': 'bracket_right', '}': 'bracket_right', ';': 'semicolon', ':': 'semicolon', "'": 'apostrophe', '"': 'apostrophe',
  '`': 'grave_accent', '~': 'grave_accent', '\\': 'backslash', '|': 'backslash', ',': 'comma', '<': 'comma',
  '.': 'dot', '>': 'dot', '/': 'slash', '?': 'slash',
  '!': '1', '@': '2', '#': '3', $: '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
};

/** Function, modifier, cursor and keypad keysyms (keysymdef.h, 0xFExx / 0xFFxx). */
const SPECIAL_KEYSYMS: Record<number, string> = {
  0xff08: 'backspace', 0xff09: 'tab', 0xfe20: 'tab', 0xff0a: 'lf', 0xff0d: 'ret', 0xff13: 'pause', 0xff14: 'scroll_lock',
  0xff15: 'sysrq', 0xff1b: 'esc', 0xffff: 'delete',
  0xff50: 'home', 0xff51: 'left', 0xff52: 'up', 0xff53: 'right', 0xff54: 'down', 0xff55: 'pgup', 0xff56: 'pgdn',
  0xff57: 'end', 0xff61: 'print', 0xff63: 'insert', 0xff65: 'undo', 0xff67: 'compose', 0xff68: 'find',
  0xff69: 'stop', 0xff6a: 'help', 0xff6b: 'pause', 0xff7f: 'num_lock',
  0xff8d: 'kp_enter', 0xff95: 'kp_7', 0xff96: 'kp_4', 0xff97: 'kp_8', 0xff98: 'kp_6', 0xff99: 'kp_2', 0xff9a: 'kp_9',
  0xff9b: 'kp_3', 0xff9c: 'kp_1', 0xff9d: 'kp_5', 0xff9e: 'kp_0', 0xff9f: 'kp_decimal',
  0xffaa: 'kp_multiply', 0xffab: 'kp_add', 0xffac: 'kp_comma', 0xffad: 'kp_subtract', 0xffae: 'kp_decimal',
  0xffaf: 'kp_divide', 0xffbd: 'kp_equals',
  0xffe1: 'shift', 0xffe2: 'shift_r', 0xffe3: 'ctrl', 0xffe4: 'ctrl_r', 0xffe5: 'caps_lock', 0xffe7: 'meta_l',
  0xffe8: 'meta_r', 0xffe9: 'alt', 0xffea: 'alt_r', 0xffeb: 'meta_l', 0xffec: 'meta_r', 0xfe03: 'alt_r',
  // XF86 multimedia keysyms (0x1008FFxx)
  0x1008ff11: 'volumedown', 0x1008ff12: 'audiomute', 0x1008ff13: 'volumeup', 0x1008ff14: 'audioplay',
  0x1008ff15: 'audiostop', 0x1008ff16: 'audioprev', 0x1008ff17: 'audionext',
};
for (let i = 0; i < 10; i++) SPECIAL_KEYSYMS[0xffb0 + i] = `kp_${i}`;
// F13..F24 are left out: QEMU 7.2's QKeyCode has no such keys and refuses the whole command.
for (let i = 0; i < 12; i++) SPECIAL_KEYSYMS[0xffbe + i] = `f${i + 1}`;

/** qcode of the US-layout key that types `keysym`, or undefined (e.g. 'ü' has no US key). */
export function keysymToQcode(keysym: number): string | undefined {
  const k = keysym >>> 0;
  if (k >= 0x20 && k <= 0x7e) {
    const c = String.fromCharCode(k);
    if (/[a-z0-9]/.test(c)) return c;
    if (/[A-Z]/.test(c)) return c.toLowerCase(); // the client sends Shift itself
    return US_ASCII[c];
  }
  return SPECIAL_KEYSYMS[k];
}

/**
 * The key to press: from the scancode when the client sent one QEMU knows (layout-independent),
 * else from the keysym on a US layout.
 */
export function keyToQcode(keysym: number, scancode?: number): string | undefined {
  if (scancode) {
    const q = xtScancodeToQcode(scancode);
    if (q) return q;
  }
  return keysymToQcode(keysym);
}
