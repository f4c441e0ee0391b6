// Pixel formats: parsing, validation of what clients send (REFERENCE.md §7), translation
// of the XRGB8888 surface checked against channel bits computed here independently.
import { describe, expect, it } from 'vitest';
import {
  PixelTranslator, SERVER_PIXEL_FORMAT, cpixelBytes, cpixelLayout, parsePixelFormat,
  validatePixelFormat, writePixelFormat, type PixelFormat,
} from '../../src/rfb/pixel-format.js';

const pf = (o: Partial<PixelFormat>): PixelFormat => ({ ...SERVER_PIXEL_FORMAT, ...o });
const RGB565 = pf({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 });
const BGR233 = pf({ bitsPerPixel: 8, depth: 8, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6 });
const BGR32_BE = pf({ bigEndian: true, redShift: 0, greenShift: 8, blueShift: 16 });

describe('parse / write', () => {
  it('parses the 16-byte PIXEL_FORMAT as laid out in rfbproto', () => {
    // 16 bpp, depth 16, big-endian, true colour, maxes 31/63/31, shifts 11/5/0, padding.
    const b = Buffer.from([16, 16, 1, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]);
    expect(parsePixelFormat(b)).toEqual({ ...RGB565, bigEndian: true });
  });
  it('round-trips through writePixelFormat', () => {
    for (const f of [SERVER_PIXEL_FORMAT, RGB565, BGR233, BGR32_BE]) {
      const b = writePixelFormat(f);
      expect(b.length).toBe(16);
      expect([...b.subarray(13)]).toEqual([0, 0, 0]);
      expect(parsePixelFormat(b)).toEqual(f);
    }
  });
  it('server format bytes are 32/24/LE/true colour/255s/16,8,0', () => {
    expect([...writePixelFormat(SERVER_PIXEL_FORMAT)]).toEqual([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
  });
  it('refuses a short buffer', () => {
    expect(() => parsePixelFormat(Buffer.alloc(15))).toThrow(/16 bytes/);
  });
});

describe('validatePixelFormat', () => {
  it.each([
    ['server format', SERVER_PIXEL_FORMAT],
    ['RGB565', RGB565],
    ['BGR233', BGR233],
    ['32 bpp big-endian BGR', BGR32_BE],
    ['RGB555 depth 15', pf({ bitsPerPixel: 16, depth: 15, redMax: 31, greenMax: 31, blueMax: 31, redShift: 10, greenShift: 5, blueShift: 0 })],
    ['32 bpp 10-bit channels', pf({ depth: 30, redMax: 1023, greenMax: 1023, blueMax: 1023, redShift: 20, greenShift: 10, blueShift: 0 })],
    ['32 bpp channels in the top bytes', pf({ redShift: 24, greenShift: 16, blueShift: 8 })],
  ])('accepts %s', (_name, f) => {
    expect(validatePixelFormat(f)).toBeUndefined();
    expect(() => new PixelTranslator(f)).not.toThrow();
  });

  it.each([
    ['bpp 24', pf({ bitsPerPixel: 24 }), /bits-per-pixel 24/],
    ['bpp 0', pf({ bitsPerPixel: 0 }), /bits-per-pixel 0/],
    ['bpp 12', pf({ bitsPerPixel: 12, depth: 12 }), /bits-per-pixel 12/],
    ['depth 0', pf({ depth: 0 }), /depth 0/],
    ['depth > bpp', { ...RGB565, depth: 24 }, /depth 24/],
    ['colour map', pf({ trueColour: false }), /colour-map/],
    ['red max 0', pf({ redMax: 0 }), /red-max 0/],
    ['green max not 2^n-1', pf({ greenMax: 200 }), /green-max 200/],
    ['blue max 254', pf({ blueMax: 254 }), /blue-max 254/],
    ['shift + bits > bpp', pf({ redShift: 25 }), /red-shift 25/],
    ['shift past 8 bpp', { ...BGR233, blueShift: 7 }, /blue-shift 7/],
    ['huge shift', pf({ blueShift: 200 }), /blue-shift 200/],
    ['overlapping channels', pf({ greenShift: 12 }), /overlaps/],
    ['same shift twice', { ...RGB565, blueShift: 11 }, /overlaps/],
  ])('rejects %s with a reason', (_name, f, reason) => {
    const why = validatePixelFormat(f);
    expect(why).toMatch(reason);
    expect(why).not.toContain('\n');
    expect(() => new PixelTranslator(f)).toThrow(reason);
  });

  it('a parsed SetPixelFormat with garbage bytes yields a reason, not a crash', () => {
    for (let seed = 1; seed < 500; seed++) {
      const b = Buffer.alloc(16);
      let s = seed;
      for (let i = 0; i < 16; i++) b[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
      const f = parsePixelFormat(b);
      const why = validatePixelFormat(f);
      if (why === undefined) expect(() => new PixelTranslator(f)).not.toThrow();
      else expect(typeof why).toBe('string');
    }
  });
});

/** Top `bits` of an 8-bit channel: what a reduced client format must show (computed here). */
const top = (c: number, max: number): number => c >> (8 - Math.log2(max + 1));

function expectedValue(f: PixelFormat, r: number, g: number, b: number): number {
  return top(r, f.redMax) * 2 ** f.redShift + top(g, f.greenMax) * 2 ** f.greenShift + top(b, f.blueMax) * 2 ** f.blueShift;
}

function readValue(buf: Buffer, off: number, bytes: number, bigEndian: boolean): number {
  let v = 0;
  for (let i = 0; i < bytes; i++) v = v * 256 + buf[off + (bigEndian ? i : bytes - 1 - i)]!;
  return v;
}

function testSurface(w: number, h: number, offsetBytes = 0) {
  const backing = Buffer.alloc(w * h * 4 + offsetBytes);
  const data = backing.subarray(offsetBytes);
  const rgb: number[][] = [];
  let s = 7;
  for (let i = 0; i < w * h; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const r = s >>> 24, g = (s >>> 16) & 255, b = (s >>> 8) & 255;
    rgb.push([r, g, b]);
    data[i * 4] = b;
    data[i * 4 + 1] = g;
    data[i * 4 + 2] = r;
    data[i * 4 + 3] = 0;
  }
  return { surface: { data, width: w, height: h }, rgb };
}

describe('PixelTranslator', () => {
  const formats: Array<[string, PixelFormat]> = [
    ['server', SERVER_PIXEL_FORMAT],
    ['32 BE BGR', BGR32_BE],
    ['RGB565 LE', RGB565],
    ['RGB565 BE', { ...RGB565, bigEndian: true }],
    ['BGR233', BGR233],
    ['RGBX (top bytes)', pf({ redShift: 24, greenShift: 16, blueShift: 8 })],
    ['RGB555', pf({ bitsPerPixel: 16, depth: 15, redMax: 31, greenMax: 31, blueMax: 31, redShift: 10, greenShift: 5, blueShift: 0 })],
  ];

  it.each(formats)('pixel() keeps the top bits of each channel (%s)', (_n, f) => {
    const t = new PixelTranslator(f);
    for (const [r, g, b] of [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [0x12, 0x34, 0x56], [128, 127, 129]]) {
      expect(t.pixel((r! << 16) | (g! << 8) | b!)).toBe(expectedValue(f, r!, g!, b!));
    }
  });

  it('scales channels wider than 8 bits (10-bit: 255 → 1023, 0 → 0)', () => {
    const f = pf({ depth: 30, redMax: 1023, greenMax: 1023, blueMax: 1023, redShift: 20, greenShift: 10, blueShift: 0 });
    const t = new PixelTranslator(f);
    expect(t.pixel(0xff0000)).toBe(1023 * 2 ** 20);
    expect(t.pixel(0x000080)).toBe(Math.round((128 * 1023) / 255));
  });

  it.each(formats)('translateRect packs rows in the client byte order (%s)', (_n, f) => {
    for (const offsetBytes of [0, 1, 2]) {
      const { surface, rgb } = testSurface(37, 11, offsetBytes);
      const t = new PixelTranslator(f);
      const rect = { x: 3, y: 2, w: 29, h: 7 };
      const out = t.translateRect(surface, rect);
      const bpp = f.bitsPerPixel / 8;
      expect(out.length).toBe(rect.w * rect.h * bpp);
      for (let y = 0; y < rect.h; y++) {
        for (let x = 0; x < rect.w; x++) {
          const [r, g, b] = rgb[(rect.y + y) * 37 + rect.x + x]!;
          const got = readValue(out, (y * rect.w + x) * bpp, bpp, f.bigEndian);
          expect(got).toBe(expectedValue(f, r!, g!, b!));
        }
      }
    }
  });

  it('writeValues agrees with writePixel at unaligned offsets', () => {
    for (const [, f] of formats) {
      const t = new PixelTranslator(f);
      const vals = Uint32Array.from([t.pixel(0x123456), t.pixel(0xfedcba), t.pixel(0x00ff7f)]);
      const a = Buffer.alloc(1 + 3 * 4), b = Buffer.alloc(1 + 3 * 4);
      t.writeValues(vals, 0, 3, a, 1);
      let off = 1;
      for (const v of vals) off = t.writePixel(b, off, v);
      expect(a).toEqual(b);
    }
  });
});

describe('CPIXEL size (ZRLE)', () => {
  it('is 3 bytes for 32 bpp depth 24 true colour, low bytes', () => {
    expect(cpixelLayout(SERVER_PIXEL_FORMAT)).toEqual({ bytes: 3, msb: false });
    expect(cpixelLayout(BGR32_BE)).toEqual({ bytes: 3, msb: false });
  });
  it('is 3 bytes taken from the top when the colour bits live there', () => {
    expect(cpixelLayout(pf({ redShift: 24, greenShift: 16, blueShift: 8 }))).toEqual({ bytes: 3, msb: true });
  });
  it('prefers the low 3 bytes when both would do (rfbproto convention)', () => {
    const f = pf({ depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 19, greenShift: 13, blueShift: 8 });
    expect(cpixelLayout(f)).toEqual({ bytes: 3, msb: false });
  });
  it('is the full pixel otherwise', () => {
    expect(cpixelBytes(RGB565)).toBe(2);
    expect(cpixelBytes(BGR233)).toBe(1);
    expect(cpixelBytes(pf({ depth: 30, redMax: 1023, greenMax: 1023, blueMax: 1023, redShift: 20, greenShift: 10, blueShift: 0 }))).toBe(4);
    // Channels spread over all four bytes: neither 3-byte half holds them.
    expect(cpixelBytes(pf({ redShift: 24, greenShift: 8, blueShift: 0 }))).toBe(4);
  });
});
