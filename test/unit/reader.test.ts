// ClientMessageReader: every message, split at every byte; every bad length refused with a
// reason before its body is waited for. Message bytes are written out by hand from rfbproto.
import { describe, expect, it } from 'vitest';
import { ClientMessageReader, ProtocolError, type ClientMessage } from '../../src/rfb/reader.js';

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const s32 = (v: number) => u32(v >>> 0);

interface Case {
  name: string;
  bytes: number[];
  expected: ClientMessage;
}

const cases: Case[] = [
  {
    name: 'SetPixelFormat (RGB565 big-endian)',
    bytes: [0, 0, 0, 0, 16, 16, 1, 1, ...u16(31), ...u16(63), ...u16(31), 11, 5, 0, 0, 0, 0],
    expected: {
      type: 'SetPixelFormat',
      pixelFormat: {
        bitsPerPixel: 16, depth: 16, bigEndian: true, trueColour: true,
        redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0,
      },
    },
  },
  {
    name: 'SetEncodings',
    bytes: [2, 0, ...u16(4), ...s32(16), ...s32(5), ...s32(-223), ...s32(-308)],
    expected: { type: 'SetEncodings', encodings: [16, 5, -223, -308] },
  },
  {
    name: 'SetEncodings with no encodings',
    bytes: [2, 0, 0, 0],
    expected: { type: 'SetEncodings', encodings: [] },
  },
  {
    name: 'FramebufferUpdateRequest',
    bytes: [3, 1, ...u16(10), ...u16(20), ...u16(300), ...u16(400)],
    expected: { type: 'FramebufferUpdateRequest', incremental: true, rect: { x: 10, y: 20, w: 300, h: 400 } },
  },
  {
    name: 'KeyEvent',
    bytes: [4, 1, 0, 0, ...u32(0xff0d)],
    expected: { type: 'KeyEvent', down: true, keysym: 0xff0d },
  },
  {
    name: 'PointerEvent',
    bytes: [5, 0x05, ...u16(640), ...u16(481)],
    expected: { type: 'PointerEvent', buttonMask: 5, x: 640, y: 481 },
  },
  {
    name: 'ClientCutText',
    bytes: [6, 0, 0, 0, ...u32(5), ...Buffer.from('h\xe9llo', 'latin1')],
    expected: { type: 'ClientCutText', text: 'h\xe9llo', extended: false },
  },
  {
    name: 'ClientCutText, extended clipboard (negative length)',
    bytes: [6, 0, 0, 0, ...s32(-8), ...u32(0x01000001), ...u32(0)],
    expected: { type: 'ClientCutText', text: undefined, extended: true },
  },
  {
    name: 'EnableContinuousUpdates',
    bytes: [150, 1, ...u16(0), ...u16(0), ...u16(1024), ...u16(768)],
    expected: { type: 'EnableContinuousUpdates', enable: true, rect: { x: 0, y: 0, w: 1024, h: 768 } },
  },
  {
    name: 'ClientFence',
    bytes: [248, 0, 0, 0, ...u32(0x80000003), 3, 0xaa, 0xbb, 0xcc],
    expected: { type: 'ClientFence', flags: 0x80000003, payload: Buffer.from([0xaa, 0xbb, 0xcc]) },
  },
  {
    name: 'SetDesktopSize with two screens',
    bytes: [
      251, 0, ...u16(2048), ...u16(768), 2, 0,
      ...u32(1), ...u16(0), ...u16(0), ...u16(1024), ...u16(768), ...u32(0),
      ...u32(7), ...u16(1024), ...u16(0), ...u16(1024), ...u16(768), ...u32(0x10),
    ],
    expected: {
      type: 'SetDesktopSize', width: 2048, height: 768,
      screens: [
        { id: 1, x: 0, y: 0, w: 1024, h: 768, flags: 0 },
        { id: 7, x: 1024, y: 0, w: 1024, h: 768, flags: 0x10 },
      ],
    },
  },
  {
    name: 'QEMU extended key event',
    bytes: [255, 0, ...u16(1), ...u32(0xff53), ...u32(0xcd)],
    expected: { type: 'QemuExtendedKeyEvent', down: true, keysym: 0xff53, keycode: 0xcd },
  },
];

describe('ClientMessageReader', () => {
  for (const c of cases) {
    it(`parses ${c.name} split at every byte`, () => {
      const bytes = Buffer.from(c.bytes);
      expect(new ClientMessageReader().push(bytes)).toEqual([c.expected]);
      for (let cut = 1; cut < bytes.length; cut++) {
        const r = new ClientMessageReader();
        expect(r.push(bytes.subarray(0, cut))).toEqual([]);
        expect(r.push(bytes.subarray(cut))).toEqual([c.expected]);
        expect(r.buffered).toBe(0);
      }
      const r = new ClientMessageReader();
      const got: ClientMessage[] = [];
      for (const b of bytes) got.push(...r.push(Buffer.from([b])));
      expect(got).toEqual([c.expected]);
    });
  }

  it('parses all messages back to back, split at every byte', () => {
    const stream = Buffer.concat(cases.map((c) => Buffer.from(c.bytes)));
    const expected = cases.map((c) => c.expected);
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new ClientMessageReader();
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
      expect(got).toEqual(expected);
    }
  });

  it('keeps a message that a chunk only starts', () => {
    const r = new ClientMessageReader();
    const key = Buffer.from([4, 0, 0, 0, ...u32(0x61)]);
    expect(r.push(Buffer.concat([key, key.subarray(0, 3)]))).toEqual([{ type: 'KeyEvent', down: false, keysym: 0x61 }]);
    expect(r.buffered).toBe(3);
    expect(r.push(key.subarray(3))).toEqual([{ type: 'KeyEvent', down: false, keysym: 0x61 }]);
  });
});

/** Pushing `bytes` must throw a ProtocolError whose message matches `reason`. */
function expectRefused(bytes: number[], reason: RegExp): void {
  const r = new ClientMessageReader();
  let err: unknown;
  try {
    r.push(Buffer.from(bytes));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ProtocolError);
  expect((err as Error).message).toMatch(reason);
  expect((err as Error).message).not.toContain('\n');
}

describe('ClientMessageReader refuses bad input (REFERENCE.md §7)', () => {
  it('unknown message type', () => {
    expectRefused([7, 0, 0, 0], /unknown client message type 7/);
    expectRefused([1], /unknown client message type 1/);
  });

  it('SetEncodings with more than 1024 encodings, from the header alone', () => {
    expectRefused([2, 0, ...u16(1025)], /1025 encodings.*1024/);
    expectRefused([2, 0, ...u16(0xffff)], /65535 encodings/);
    // 1024 is fine: the reader waits for the list.
    expect(new ClientMessageReader().push(Buffer.from([2, 0, ...u16(1024)]))).toEqual([]);
  });

  it('ClientCutText longer than 1 MiB, from the header alone', () => {
    expectRefused([6, 0, 0, 0, ...u32(1024 * 1024 + 1)], /1048577 bytes exceeds/);
    expectRefused([6, 0, 0, 0, ...u32(0x7fffffff)], /2147483647 bytes exceeds/);
    // Extended clipboard: a negative length is a size too, bounded the same way.
    expectRefused([6, 0, 0, 0, ...u32(0x80000000)], /2147483648 bytes exceeds/);
    expectRefused([6, 0, 0, 0, ...s32(-(1024 * 1024 + 1))], /1048577 bytes exceeds/);
    const r = new ClientMessageReader();
    expect(r.push(Buffer.from([6, 0, 0, 0, ...u32(1024 * 1024)]))).toEqual([]);
  });

  it('ClientFence payload over 64 bytes', () => {
    expectRefused([248, 0, 0, 0, ...u32(0x80000000), 65], /65 bytes exceeds 64/);
    expectRefused([248, 0, 0, 0, ...u32(0x80000000), 255], /255 bytes exceeds 64/);
    const ok = [248, 0, 0, 0, ...u32(0x80000000), 64, ...new Array<number>(64).fill(9)];
    expect(new ClientMessageReader().push(Buffer.from(ok))).toHaveLength(1);
  });

  it('SetDesktopSize with 0 or more than 16 screens', () => {
    expectRefused([251, 0, ...u16(800), ...u16(600), 0, 0], /0 screens/);
    expectRefused([251, 0, ...u16(800), ...u16(600), 17, 0], /17 screens.*16/);
    expectRefused([251, 0, ...u16(800), ...u16(600), 255, 0], /255 screens/);
  });

  it('unknown QEMU submessage', () => {
    expectRefused([255, 1, 0, 0], /QEMU client submessage 1/);
    expectRefused([255, 200], /QEMU client submessage 200/);
  });

  it('refuses a bad message that follows good ones in the same chunk', () => {
    expectRefused([4, 1, 0, 0, ...u32(0x61), 99], /unknown client message type 99/);
  });
});

describe('ClientMessageReader on random input', () => {
  it('only ever parses or throws ProtocolError, and never buffers past the limits', () => {
    // xorshift32: reproducible "random" bytes
    let s = 0x9e3779b9;
    const rnd = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), s >>> 0);
    // messages with a valid type byte most of the time, so parsing goes deep
    const types = [0, 2, 3, 4, 5, 6, 150, 248, 251, 255];
    for (let round = 0; round < 2000; round++) {
      const r = new ClientMessageReader();
      const len = 1 + (rnd() % 64);
      const bytes = Buffer.alloc(len);
      for (let i = 0; i < len; i++) bytes[i] = rnd() & 0xff;
      if (rnd() % 4) bytes[0] = types[rnd() % types.length]!;
      try {
        for (let i = 0; i < len; i += 7) r.push(bytes.subarray(i, i + 7));
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
      }
      expect(r.buffered).toBeLessThanOrEqual(len);
    }
  });
});
