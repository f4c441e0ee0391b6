// Every encoder × pixel format × image: encode → decode with the independent decoders in
// test/decoders (written from rfbproto) → compare each pixel's channels with the top bits
// of the source RGB, known from how the picture was built (test/helpers/encoder-pictures.ts).
import { describe, expect, it } from 'vitest';
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../../src/rfb/pixel-format.js';
import {
  ENCODING_HEXTILE, ENCODING_RAW, ENCODING_RRE, ENCODING_ZRLE, SUPPORTED_ENCODINGS, chooseEncoding,
  createEncoder, encodeCopyRect, supportsCopyRect,
} from '../../src/rfb/encodings/index.js';
import { ZrleEncoder } from '../../src/rfb/encodings/zrle.js';
import type { Encoder, Rect } from '../../src/rfb/encodings/types.js';
import { TestClient, channelsOf } from '../decoders/index.js';
import { TEN, expectMatches, pf, picture, rng, type Picture } from '../helpers/encoder-pictures.js';

const FORMATS: Array<[string, PixelFormat]> = [
  ['server 32bpp', SERVER_PIXEL_FORMAT],
  ['32bpp big-endian BGR', pf({ bigEndian: true, redShift: 0, greenShift: 8, blueShift: 16 })],
  ['32bpp RGBX (colour in top bytes)', pf({ redShift: 24, greenShift: 16, blueShift: 8 })],
  ['RGB565', pf({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 })],
  ['RGB565 big-endian', pf({ bitsPerPixel: 16, depth: 16, bigEndian: true, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 })],
  ['BGR233', pf({ bitsPerPixel: 8, depth: 8, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6 })],
];

const W = 150, H = 100; // not a multiple of 16 or 64: edge tiles everywhere

const IMAGES: Record<string, () => Picture> = {
  solid: () => picture(W, H, () => 0x3c6e9a),
  'two colours (text-like)': () => picture(W, H, (x, y) => ((x * 7 + y * 3) % 11 < 3 || (x % 9 === 4 && y % 13 < 8) ? 0x101010 : 0xf0f0e8)),
  'ten-colour blocks': () => picture(W, H, (x, y) => TEN[(Math.floor(x / 7) + Math.floor(y / 5) * 3) % 10]!),
  'ten-colour noise': () => { const r = rng(5); return picture(W, H, () => TEN[r() % 10]!); },
  gradient: () => picture(W, H, (x, y) => ((x * 255 / (W - 1)) << 16) | ((y * 255 / (H - 1)) << 8) | ((x + y) & 255)),
  noise: () => { const r = rng(9); return picture(W, H, () => r() >>> 8); },
  // Desktop-like: flat background, windows, text, a photo-ish patch.
  desktop: () => { const r = rng(3); return picture(W, H, (x, y) => {
    if (x > 90 && y > 50) return r() >>> 8;
    if (x > 10 && x < 80 && y > 10 && y < 70) return (x + y) % 6 === 0 && y > 20 ? 0x000000 : y < 20 ? 0x2050a0 : 0xffffff;
    return 0x3a6ea5;
  }); },
  // Long runs then noise in the same 64×64 tile (ZRLE plain RLE with runs > 255).
  'half solid, half noise': () => { const r = rng(11); return picture(W, H, (_x, y) => (y % 64 < 32 ? 0x123456 : r() >>> 8)); },
  // Tiles alternating solid / two-colour / noisy to exercise Hextile's carry-over rule.
  'hextile carry-over': () => { const r = rng(17); return picture(W, H, (x, y) => {
    const t = (Math.floor(x / 16) + Math.floor(y / 16) * 3) % 5;
    if (t === 0) return 0x204080;
    if (t === 1) return (x + y) % 5 === 0 ? 0xffcc00 : 0x204080;
    if (t === 2) return r() >>> 8;
    if (t === 3) return 0x204080;
    return (x * y) % 7 === 0 ? 0xffcc00 : (x % 3 === 0 ? 0x00ff00 : 0x204080);
  }); },
};

const RECTS: Array<[string, Rect]> = [
  ['whole surface', { x: 0, y: 0, w: W, h: H }],
  ['odd inner rect', { x: 5, y: 3, w: 77, h: 45 }],
  ['edge rect', { x: 86, y: 36, w: 64, h: 64 }],
  ['1x1', { x: W - 1, y: H - 1, w: 1, h: 1 }],
];

function roundTrip(encoder: Encoder, pic: Picture, rect: Rect, f: PixelFormat, client?: TestClient): TestClient {
  const c = client ?? new TestClient(pic.surface.width, pic.surface.height, f);
  const out: Buffer[] = [];
  const n = encoder.encode(pic.surface, rect, f, out);
  expect(n).toBeGreaterThanOrEqual(1);
  c.decode(out, n);
  return c;
}

describe.each([ENCODING_RAW, ENCODING_RRE, ENCODING_HEXTILE, ENCODING_ZRLE])('encoding %i', (encoding) => {
  describe.each(FORMATS)('%s', (_fname, f) => {
    it.each(Object.keys(IMAGES))('%s decodes to the same pixels', (name) => {
      const pic = IMAGES[name]!();
      for (const [rname, rect] of RECTS) {
        const client = roundTrip(createEncoder(encoding)!, pic, rect, f);
        expectMatches(client, pic, rect, f, `${name} / ${rname}`);
      }
    });
  });
});

describe('encoders', () => {
  it('write nothing for an empty rect', () => {
    const pic = IMAGES.solid!();
    for (const e of SUPPORTED_ENCODINGS) {
      const out: Buffer[] = [];
      expect(createEncoder(e)!.encode(pic.surface, { x: 0, y: 0, w: 0, h: 5 }, SERVER_PIXEL_FORMAT, out)).toBe(0);
      expect(out).toEqual([]);
    }
  });

  it('Raw body is the pixels in client order (BGR233 by hand)', () => {
    const pic = picture(2, 1, (x) => (x === 0 ? 0xff0000 : 0x00ffff));
    const f = FORMATS.find(([n]) => n === 'BGR233')![1];
    const out: Buffer[] = [];
    createEncoder(ENCODING_RAW)!.encode(pic.surface, { x: 0, y: 0, w: 2, h: 1 }, f, out);
    const all = Buffer.concat(out);
    expect([...all.subarray(0, 12)]).toEqual([0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0]);
    expect([...all.subarray(12)]).toEqual([0b00_000_111, 0b11_111_000]);
  });

  it('RRE falls back to Raw (still correct) when subrects would cost more', () => {
    const pic = IMAGES.noise!();
    const out: Buffer[] = [];
    createEncoder(ENCODING_RRE)!.encode(pic.surface, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, out);
    const all = Buffer.concat(out);
    expect(all.readInt32BE(8)).toBe(ENCODING_RAW);
    expect(all.length).toBe(12 + W * H * 4);
  });

  it('RRE of two colours is small and uses the majority colour as background', () => {
    const pic = picture(40, 30, (x, y) => (x >= 10 && x < 20 && y >= 5 && y < 25 ? 0xff0000 : 0x0000ff));
    const out: Buffer[] = [];
    createEncoder(ENCODING_RRE)!.encode(pic.surface, { x: 0, y: 0, w: 40, h: 30 }, SERVER_PIXEL_FORMAT, out);
    const all = Buffer.concat(out);
    expect(all.readInt32BE(8)).toBe(ENCODING_RRE);
    expect(all.readUInt32BE(12)).toBe(1); // one 10×20 subrect after vertical merging
    expect(all.readUInt32LE(16) & 0xffffff).toBe(0x0000ff);
  });

  it('Hextile uses every kind of tile, and never an undefined carried-over colour', () => {
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const encoder = createEncoder(ENCODING_HEXTILE)!;
    for (const name of ['hextile carry-over', 'two colours (text-like)', 'ten-colour blocks', 'noise']) {
      const pic = IMAGES[name]!();
      roundTrip(encoder, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
      expectMatches(client, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, name);
    }
    const m = [...client.hextileMasks];
    expect(m).toContain(1); // raw
    expect(m).toContain(0); // everything carried over
    expect(m.some((x) => x === 2)).toBe(true); // solid, new background
    expect(m.some((x) => (x & 8) && (x & 4) && !(x & 16))).toBe(true); // foreground subrects
    expect(m.some((x) => (x & 8) && !(x & 4) && !(x & 16))).toBe(true); // carried-over foreground
    expect(m.some((x) => (x & 8) && (x & 16))).toBe(true); // coloured subrects
  });

  it('ZRLE uses every subencoding and runs longer than 255', () => {
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const encoder = createEncoder(ENCODING_ZRLE)!;
    for (const name of Object.keys(IMAGES)) {
      const pic = IMAGES[name]!();
      roundTrip(encoder, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
      expectMatches(client, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, name);
    }
    const s = [...client.zrleSubencodings];
    expect(s).toContain(0); // raw
    expect(s).toContain(1); // solid
    expect(s).toContain(128); // plain RLE
    expect(s.some((x) => x >= 2 && x <= 16)).toBe(true); // packed palette
    expect(s.some((x) => x >= 130)).toBe(true); // palette RLE
  });

  it('ZRLE: many rects across one connection decode with one persistent inflater', () => {
    const f = FORMATS[1]![1];
    const client = new TestClient(W, H, f);
    const encoder = new ZrleEncoder(); // default: native.ZStream
    const order = ['gradient', 'desktop', 'noise', 'ten-colour blocks', 'solid', 'two colours (text-like)'];
    for (let round = 0; round < 2; round++) {
      for (const name of order) {
        const pic = IMAGES[name]!();
        for (const [, rect] of RECTS) {
          // One update with two rects: the rect and the 1×1 corner, in one buffer list.
          const out: Buffer[] = [];
          const n = encoder.encode(pic.surface, rect, f, out) + encoder.encode(pic.surface, { x: 0, y: 0, w: 1, h: 1 }, f, out);
          client.decode(out, n);
          expectMatches(client, pic, rect, f, `${name} round ${round}`, false);
        }
      }
    }
  });

  it('CopyRect moves pixels the client already has', () => {
    const pic = IMAGES['ten-colour blocks']!();
    const client = roundTrip(createEncoder(ENCODING_RAW)!, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT);
    const out: Buffer[] = [];
    const n = encodeCopyRect({ x: 50, y: 40, w: 30, h: 20 }, 10, 5, out);
    client.decode(out, n);
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 30; x++) {
        const i = ((5 + y) * W + 10 + x) * 3;
        const want = [pic.rgb[i], pic.rgb[i + 1], pic.rgb[i + 2]];
        expect(channelsOf(client.fb.get(50 + x, 40 + y), SERVER_PIXEL_FORMAT)).toEqual(want);
      }
    }
  });
});

describe('registry', () => {
  it('creates a fresh encoder for each supported encoding', () => {
    for (const e of SUPPORTED_ENCODINGS) {
      const a = createEncoder(e)!, b = createEncoder(e)!;
      expect(a.encoding).toBe(e);
      expect(a).not.toBe(b);
    }
    expect(createEncoder(9)).toBeUndefined(); // Ultra
    expect(createEncoder(-223)).toBeUndefined();
  });
  it('ZRLE takes a zlib level; a bad one is refused by the native stream', () => {
    const pic = IMAGES.desktop!();
    const client = roundTrip(createEncoder(ENCODING_ZRLE, { zlibLevel: 1 })!, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT);
    expectMatches(client, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, 'level 1');
    expect(() => createEncoder(ENCODING_ZRLE, { zlibLevel: 42 })).toThrow(/level/);
  });
  it('prefers Tight, TightPNG, ZRLE, Hextile, RRE, Raw', () => {
    expect(SUPPORTED_ENCODINGS).toEqual([7, -260, 16, 5, 2, 0]);
  });
  it('chooses the first supported encoding in the client order, else Raw', () => {
    expect(chooseEncoding([9, -223, 5, 16])).toBe(5);
    expect(chooseEncoding([-239, 9])).toBe(0);
    expect(supportsCopyRect([16, 1])).toBe(true);
    expect(supportsCopyRect([16])).toBe(false);
  });
});
