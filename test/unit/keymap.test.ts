// Keysym and XT scancode → QEMU qcode. Expected keys come from how keyboards are built (XT set 1
// scancodes are Linux key codes below 0x54; Linux's input-event-codes.h names them) and from the US
// layout, not from the tables under test. Every qcode the tables can produce must be one QEMU 7.2
// knows (a single unknown name makes QEMU refuse the whole input-send-event).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keysymToQcode, keyToQcode, xtScancodeToQcode } from '../../src/input/keymap.js';

/** QKeyCode of QEMU 7.2 (qapi/ui.json), as its query-qmp-schema answers. */
const QEMU_72_QCODES = new Set(
  ('unmapped shift shift_r alt alt_r ctrl ctrl_r menu esc 1 2 3 4 5 6 7 8 9 0 minus equal backspace tab q w e r t y u i o p ' +
    'bracket_left bracket_right ret a s d f g h j k l semicolon apostrophe grave_accent backslash z x c v b n m comma dot slash ' +
    'asterisk spc caps_lock f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 num_lock scroll_lock kp_divide kp_multiply kp_subtract kp_add kp_enter ' +
    'kp_decimal sysrq kp_0 kp_1 kp_2 kp_3 kp_4 kp_5 kp_6 kp_7 kp_8 kp_9 less f11 f12 print home pgup pgdn end left up down right ' +
    'insert delete stop again props undo front copy open paste find cut lf help meta_l meta_r compose pause ro hiragana henkan yen ' +
    'muhenkan katakanahiragana kp_comma kp_equals power sleep wake audionext audioprev audiostop audioplay audiomute volumeup ' +
    'volumedown mediaselect mail calculator computer ac_home ac_back ac_forward ac_refresh ac_bookmarks lang1 lang2').split(' '),
);

/** Linux KEY_* name → code, and the qcode QEMU's keycodemapdb gives each (named by the same key). */
const linux = new Map<number, string>();
for (const m of readFileSync('/usr/include/linux/input-event-codes.h', 'utf8').matchAll(/^#define\s+KEY_(\w+)\s+(\d+)\b/gm)) {
  if (!linux.has(Number(m[2]))) linux.set(Number(m[2]), m[1]!);
}

describe('XT scancodes', () => {
  it('0x01..0x53 name the keys whose Linux codes they are', () => {
    // Linux key name → qcode spelling, where they differ.
    const rename: Record<string, string> = {
      ESC: 'esc', BACKSPACE: 'backspace', TAB: 'tab', LEFTBRACE: 'bracket_left', RIGHTBRACE: 'bracket_right', ENTER: 'ret',
      LEFTCTRL: 'ctrl', SEMICOLON: 'semicolon', APOSTROPHE: 'apostrophe', GRAVE: 'grave_accent', LEFTSHIFT: 'shift',
      BACKSLASH: 'backslash', COMMA: 'comma', DOT: 'dot', SLASH: 'slash', RIGHTSHIFT: 'shift_r', KPASTERISK: 'kp_multiply',
      LEFTALT: 'alt', SPACE: 'spc', CAPSLOCK: 'caps_lock', NUMLOCK: 'num_lock', SCROLLLOCK: 'scroll_lock', KPMINUS: 'kp_subtract',
      KPPLUS: 'kp_add', KPDOT: 'kp_decimal', MINUS: 'minus', EQUAL: 'equal',
    };
    for (let sc = 1; sc <= 0x53; sc++) {
      const name = linux.get(sc)!;
      const expected = rename[name] ?? (/^KP\d$/.test(name) ? `kp_${name[2]}` : name.toLowerCase());
      expect([sc, xtScancodeToQcode(sc)]).toEqual([sc, expected]);
    }
  });

  it('E0-prefixed keys, in both spellings (0x80|code and 0xE0xx)', () => {
    expect(xtScancodeToQcode(0xc8)).toBe('up');
    expect(xtScancodeToQcode(0xe048)).toBe('up');
    expect(xtScancodeToQcode(0x9c)).toBe('kp_enter');
    expect(xtScancodeToQcode(0xb8)).toBe('alt_r');
    expect(xtScancodeToQcode(0xe01d)).toBe('ctrl_r');
    expect(xtScancodeToQcode(0x48)).toBe('kp_8'); // the same code without E0 is the keypad's
  });

  it('unknown codes map to nothing', () => {
    for (const sc of [0, 0x55, 0x7f, 0x80, 0x100, 0xe080, 0xffffffff]) expect(xtScancodeToQcode(sc)).toBeUndefined();
  });
});

describe('keysyms (US layout)', () => {
  it('letters of either case are their key; shifted symbols share the unshifted key', () => {
    expect(keysymToQcode(0x61)).toBe('a');
    expect(keysymToQcode(0x5a)).toBe('z');
    const pairs = '1!2@3#4$5%6^7&8*9(0)-_=+[{]}\\|;:\'"`~,<.>/?';
    for (let i = 0; i < pairs.length; i += 2) expect(keysymToQcode(pairs.charCodeAt(i + 1))).toBe(keysymToQcode(pairs.charCodeAt(i)));
  });

  it('function, modifier, cursor and keypad keysyms (keysymdef.h values)', () => {
    const cases: Array<[number, string]> = [
      [0xff0d, 'ret'], [0xff1b, 'esc'], [0xff08, 'backspace'], [0xff09, 'tab'], [0xffff, 'delete'], [0xff51, 'left'],
      [0xff54, 'down'], [0xffbe, 'f1'], [0xffc9, 'f12'], [0xffe1, 'shift'], [0xffe4, 'ctrl_r'], [0xffe9, 'alt'],
      [0xfe03, 'alt_r'], [0xffeb, 'meta_l'], [0xffb0, 'kp_0'], [0xffb9, 'kp_9'], [0xff8d, 'kp_enter'], [0x20, 'spc'],
    ];
    for (const [sym, q] of cases) expect([sym, keysymToQcode(sym)]).toEqual([sym, q]);
  });

  it('a character no US key types has no key: ü, €, F13', () => {
    expect(keysymToQcode(0xfc)).toBeUndefined();
    expect(keysymToQcode(0x20ac)).toBeUndefined();
    expect(keysymToQcode(0xffca)).toBeUndefined();
  });

  it('the scancode wins over the keysym; a zero or unknown scancode falls back to it', () => {
    expect(keyToQcode(0xfc, 0x1a)).toBe('bracket_left'); // ü on a German keyboard
    expect(keyToQcode(0x79, 0x2c)).toBe('z'); // 'y' typed on the German Z key is the physical Z key
    expect(keyToQcode(0x61, 0)).toBe('a');
    expect(keyToQcode(0x61, 0x55)).toBe('a');
  });
});

it('every qcode the tables produce exists in QEMU 7.2', () => {
  const produced = new Set<string>();
  for (let sc = 0; sc <= 0xff; sc++) {
    const q = xtScancodeToQcode(sc);
    if (q) produced.add(q);
  }
  for (const sym of [...Array(0x7f).keys(), ...Array.from({ length: 0x200 }, (_, i) => 0xfe00 + i), ...Array.from({ length: 0x20 }, (_, i) => 0x1008ff00 + i)]) {
    const q = keysymToQcode(sym);
    if (q) produced.add(q);
  }
  expect([...produced].filter((q) => !QEMU_72_QCODES.has(q))).toEqual([]);
  expect(produced.size).toBeGreaterThan(100);
});
