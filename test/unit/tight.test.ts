// Tight (7) and TightPNG (−260): encode → decode with the independent decoder in
// test/decoders/tight.ts (written from rfbproto) → compare pixels with the source picture;
// JPEG within a PSNR bound, decoded by jpeg-js.
import { describe, expect, it } from 'vitest';
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../../src/rfb/pixel-format.js';
import { ENCODING_TIGHT, ENCODING_TIGHT_PNG, TightEncoder, chooseEncoding, createEncoder, encoderOptionsFrom } from '../../src/rfb/encodings/index.js';
import { compactLength } from '../../src/rfb/encodings/tight.js';
import { splitSolidAreas, surfaceWords, solidColour } from '../../src/rfb/encodings/rect-classifier.js';
import type { Rect } from '../../src/rfb/encodings/types.js';
import { TestClient } from '../decoders/index.js';
import { TEN, expectMatches, pf, picture, psnr, rng, type Picture } from '../helpers/encoder-pictures.js';

const FORMATS: Array<[string, PixelFormat]> = [
  ['server 32bpp', SERVER_PIXEL_FORMAT],
  ['32bpp big-endian BGR', pf({ bigEndian: true, redShift: 0, greenShift: 8, blueShift: 16 })],
  ['32bpp depth 32 (PIXEL, not TPIXEL)', pf({ depth: 32 })],
  ['RGB565', pf({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 })],
  ['BGR233', pf({ bitsPerPixel: 8, depth: 8, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6 })],
];

const W = 230, H = 150; // not a multiple of 16: edge blocks everywhere
const smooth = (x: number, y: number): number =>
  (Math.round(127 + 120 * Math.sin(x / 23)) << 16) | (Math.round(127 + 120 * Math.cos(y / 17)) << 8) | Math.round(127 + 120 * Math.sin((x + y) / 31));

const IMAGES: Record<string, () => Picture> = {
  solid: () => picture(W, H, () => 0x3c6e9a),
  'two colours (text)': () => picture(W, H, (x, y) => ((x * 7 + y * 3) % 11 < 3 ? 0x101010 : 0xf0f0e8)),
  'ten-colour noise': () => { const r = rng(5); return picture(W, H, () => TEN[r() % 10]!); },
  smooth: () => picture(W, H, smooth),
  noise: () => { const r = rng(9); return picture(W, H, () => r() >>> 8); },
  desktop: () => { const r = rng(3); return picture(W, H, (x, y) => {
    if (x > 150 && y > 80) return r() >>> 8;
    if (x > 10 && x < 120 && y > 10 && y < 110) return (x + y) % 6 === 0 && y > 20 ? 0x000000 : y < 20 ? 0x2050a0 : 0xffffff;
    if (y > 120) return smooth(x, y);
    return 0x3a6ea5;
  }); },
};

const RECTS: Array<[string, Rect]> = [
  ['whole surface', { x: 0, y: 0, w: W, h: H }],
  ['odd inner rect', { x: 5, y: 3, w: 177, h: 95 }],
  ['2x3', { x: W - 2, y: H - 3, w: 2, h: 3 }],
];

function encodeInto(encoder: TightEncoder, pic: Picture, rect: Rect, f: PixelFormat, client: TestClient): Buffer[] {
  const out: Buffer[] = [];
  const n = encoder.encode(pic.surface, rect, f, out);
  expect(n).toBeGreaterThanOrEqual(1);
  const rects = client.decode(out, n);
  for (const r of rects) expect(r.w).toBeLessThanOrEqual(2048);
  return out;
}

describe.each(FORMATS)('Tight lossless, %s', (_fname, f) => {
  it.each(Object.keys(IMAGES))('%s decodes to the same pixels', (name) => {
    const pic = IMAGES[name]!();
    for (const [rname, rect] of RECTS) {
      const client = new TestClient(W, H, f);
      encodeInto(new TightEncoder(false), pic, rect, f, client);
      expectMatches(client, pic, rect, f, `${name} / ${rname}`);
    }
  });
});

describe('Tight', () => {
  it('uses fill, mono, palette, zlib and stored pixels over all four streams, one connection', () => {
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const encoder = new TightEncoder(false);
    // Several pictures one after another through the same encoder and decoder: the streams persist.
    for (const name of ['desktop', 'two colours (text)', 'ten-colour noise', 'smooth', 'noise', 'desktop']) {
      const pic = IMAGES[name]!();
      encodeInto(encoder, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
      expectMatches(client, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, name);
    }
    expect([...client.tight.seen].sort()).toEqual(['copy', 'copy-raw', 'fill', 'gradient', 'mono', 'palette']);
    expect([...client.tight.streamsUsed].sort()).toEqual([0, 1, 2, 3]);
  });

  it('splits rects wider than 2048 pixels', () => {
    const pic = picture(2600, 40, (x, y) => smooth(x, y * 3));
    const client = new TestClient(2600, 40, SERVER_PIXEL_FORMAT);
    const out: Buffer[] = [];
    const n = new TightEncoder(false).encode(pic.surface, { x: 0, y: 0, w: 2600, h: 40 }, SERVER_PIXEL_FORMAT, out);
    const rects = client.decode(out, n);
    expect(Math.max(...rects.map((r) => r.w))).toBe(2048);
    expectMatches(client, pic, { x: 0, y: 0, w: 2600, h: 40 }, SERVER_PIXEL_FORMAT, 'wide');
  });

  it('a solid wide area also goes as fills of at most 2048 pixels', () => {
    const pic = picture(4100, 20, () => 0x112233);
    const client = new TestClient(4100, 20, SERVER_PIXEL_FORMAT);
    const out: Buffer[] = [];
    const n = new TightEncoder(false).encode(pic.surface, { x: 0, y: 0, w: 4100, h: 20 }, SERVER_PIXEL_FORMAT, out);
    const rects = client.decode(out, n);
    expect(rects.map((r) => r.w)).toEqual([2048, 2048, 4]);
    expectMatches(client, pic, { x: 0, y: 0, w: 4100, h: 20 }, SERVER_PIXEL_FORMAT, 'wide solid');
  });

  it('fill is the control byte and a 3-byte TPIXEL (R, G, B) for 32 bpp depth 24', () => {
    const pic = picture(8, 8, () => 0x123456);
    for (const [f, body] of [
      [SERVER_PIXEL_FORMAT, [0x80, 0x12, 0x34, 0x56]],
      [FORMATS[1]![1], [0x80, 0x12, 0x34, 0x56]], // shifts and byte order do not matter for TPIXEL
      [FORMATS[2]![1], [0x80, 0x56, 0x34, 0x12, 0x00]], // depth 32: a full little-endian PIXEL
    ] as Array<[PixelFormat, number[]]>) {
      const out: Buffer[] = [];
      expect(new TightEncoder(false).encode(pic.surface, { x: 0, y: 0, w: 8, h: 8 }, f, out)).toBe(1);
      const all = Buffer.concat(out);
      expect(all.readInt32BE(8)).toBe(ENCODING_TIGHT);
      expect([...all.subarray(12)]).toEqual(body);
    }
  });

  it('sends filtered data under 12 bytes as it is (2-colour 8×8: 8 bytes of bits)', () => {
    const pic = picture(8, 8, (x, y) => (x === y ? 0xffffff : 0x000000));
    const out: Buffer[] = [];
    new TightEncoder(false).encode(pic.surface, { x: 0, y: 0, w: 8, h: 8 }, SERVER_PIXEL_FORMAT, out);
    const body = Buffer.concat(out).subarray(12);
    // control (stream 1, filter follows), filter 1, 2 colours, 2 TPIXELs, 8 rows of 1 byte
    expect(body.length).toBe(1 + 1 + 1 + 6 + 8);
    expect(body[0]! & 0xf0).toBe(0x40 | 0x10);
    expect(body[1]).toBe(1);
    expect(body[2]).toBe(1);
    const client = new TestClient(8, 8, SERVER_PIXEL_FORMAT);
    client.decode(out, 1);
    expectMatches(client, pic, { x: 0, y: 0, w: 8, h: 8 }, SERVER_PIXEL_FORMAT, 'mono 8x8');
  });

  it('compact lengths follow rfbproto (10000 → 0x90 0x4E)', () => {
    expect(compactLength(10000)).toEqual([0x90, 0x4e]);
    expect(compactLength(127)).toEqual([127]);
    expect(compactLength(128)).toEqual([0x80, 0x01]);
    expect(compactLength(16384)).toEqual([0x80, 0x80, 0x01]);
    expect(compactLength(4194303)).toEqual([0xff, 0xff, 0xff]);
  });

  it('a new compression level re-creates the streams and tells the client to reset them', () => {
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const encoder = new TightEncoder(false, { compressLevel: 1 });
    const pic = IMAGES.desktop!();
    encodeInto(encoder, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
    encoder.configure({ compressLevel: 9 });
    const out = encodeInto(encoder, IMAGES.smooth!(), { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
    expectMatches(client, IMAGES.smooth!(), { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, 'after level change');
    // The first rect of the second update carries the reset bit of the full-colour stream.
    expect(Buffer.concat(out)[12]! & 0x01).toBe(1);
  });

  it('noise goes through the stored stream, costing about its raw size', () => {
    const pic = IMAGES.noise!();
    const out: Buffer[] = [];
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const n = new TightEncoder(false).encode(pic.surface, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, out);
    client.decode(out, n);
    expect(client.tight.streamsUsed.has(3)).toBe(true);
    expect(client.tight.streamsUsed.has(0)).toBe(false);
    const bytes = out.reduce((s, b) => s + b.length, 0);
    expect(bytes).toBeLessThan(W * H * 3 * 1.01 + 200);
  });

  it('JPEG for many-colour areas when the client sent a quality level; within PSNR 30 dB', () => {
    const pic = IMAGES.smooth!();
    const encoder = createEncoder(ENCODING_TIGHT, encoderOptionsFrom([ENCODING_TIGHT, -26])) as TightEncoder;
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    encodeInto(encoder, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
    expect(client.tight.seen.has('jpeg')).toBe(true);
    expect(psnr(client, pic, { x: 0, y: 0, w: W, h: H })).toBeGreaterThan(30);
    const lossy = encoder.takeLossyRects();
    expect(lossy.map((r) => `${r.x},${r.y},${r.w},${r.h}`).sort()).toEqual(client.tight.jpegRects.map((r) => `${r.x},${r.y},${r.w},${r.h}`).sort());
    expect(encoder.takeLossyRects()).toEqual([]);
  });

  it('JPEG in 16 bpp, never in 8 bpp, never when lossless is asked', () => {
    const pic = IMAGES.smooth!();
    const rect = { x: 0, y: 0, w: W, h: H };
    const c16 = new TestClient(W, H, FORMATS[3]![1]);
    encodeInto(new TightEncoder(false, { jpegQuality: 90 }), pic, rect, FORMATS[3]![1], c16);
    expect(c16.tight.seen.has('jpeg')).toBe(true);
    const c8 = new TestClient(W, H, FORMATS[4]![1]);
    encodeInto(new TightEncoder(false, { jpegQuality: 90 }), pic, rect, FORMATS[4]![1], c8);
    expect(c8.tight.seen.has('jpeg')).toBe(false);
    expectMatches(c8, pic, rect, FORMATS[4]![1], '8 bpp with quality');
    const e = new TightEncoder(false, { jpegQuality: 90 });
    e.lossless = true;
    const c32 = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    encodeInto(e, pic, rect, SERVER_PIXEL_FORMAT, c32);
    expect(c32.tight.seen.has('jpeg')).toBe(false);
    expectMatches(c32, pic, rect, SERVER_PIXEL_FORMAT, 'lossless refresh');
    expect(e.takeLossyRects()).toEqual([]);
  });

  it('higher quality levels give higher PSNR', () => {
    const pic = IMAGES.noise!();
    const rect = { x: 0, y: 0, w: W, h: H };
    const at = (level: number): number => {
      const c = new TestClient(W, H, SERVER_PIXEL_FORMAT);
      encodeInto(new TightEncoder(false, encoderOptionsFrom([-32 + level])), pic, rect, SERVER_PIXEL_FORMAT, c);
      return psnr(c, pic, rect);
    };
    expect(at(9)).toBeGreaterThan(at(5));
    expect(at(5)).toBeGreaterThan(at(0));
  });
});

describe('TightPNG', () => {
  it.each(Object.keys(IMAGES))('%s: fill and PNG only, same pixels', (name) => {
    const pic = IMAGES[name]!();
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const encoder = createEncoder(ENCODING_TIGHT_PNG) as TightEncoder;
    expect(encoder.encoding).toBe(-260);
    encodeInto(encoder, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
    expectMatches(client, pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, name);
    for (const k of client.tightPng.seen) expect(['fill', 'png']).toContain(k);
  });

  it('JPEG too when the client asked for quality', () => {
    const pic = IMAGES.smooth!();
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    encodeInto(new TightEncoder(true, { jpegQuality: 80 }), pic, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT, client);
    expect(client.tightPng.seen.has('jpeg')).toBe(true);
    expect(psnr(client, pic, { x: 0, y: 0, w: W, h: H })).toBeGreaterThan(30);
  });
});

describe('encoder options from SetEncodings', () => {
  it('maps compression level, quality level, fine quality and subsampling', () => {
    expect(encoderOptionsFrom([7, 16])).toEqual({});
    expect(encoderOptionsFrom([-256 + 6])).toEqual({ compressLevel: 6 });
    expect(encoderOptionsFrom([-23])).toEqual({ jpegQuality: 100, subsampling: '444' });
    expect(encoderOptionsFrom([-32])).toEqual({ jpegQuality: 15, subsampling: '420' });
    // Fine quality overrides the level's quality; a subsampling pseudo-encoding its subsampling.
    expect(encoderOptionsFrom([-26, -512 + 70, -766])).toEqual({ jpegQuality: 70, subsampling: '422' });
    expect(encoderOptionsFrom([-412])).toEqual({ jpegQuality: 100, subsampling: '420' });
    expect(encoderOptionsFrom([-765, -30])).toEqual({ jpegQuality: 41, subsampling: 'gray' });
    // Subsampling alone does not turn JPEG on.
    expect(encoderOptionsFrom([-768]).jpegQuality).toBeUndefined();
  });

  it('Tight and TightPNG are chosen in the client order', () => {
    expect(chooseEncoding([7, 16])).toBe(ENCODING_TIGHT);
    expect(chooseEncoding([-260, 7])).toBe(ENCODING_TIGHT_PNG);
    expect(chooseEncoding([16, 7])).toBe(16);
  });
});

describe('solid-area search', () => {
  it('finds big single-colour areas and covers the rect exactly', () => {
    const pic = IMAGES.desktop!();
    const s = surfaceWords(pic.surface);
    const rect = { x: 0, y: 0, w: W, h: H };
    const { solid, rest } = splitSolidAreas(s, rect);
    expect(solid.length).toBeGreaterThan(0);
    const cover = new Uint8Array(W * H);
    for (const r of [...solid.map((a) => a.rect), ...rest]) {
      for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) cover[y * W + x]!++;
    }
    expect(cover.every((c) => c === 1)).toBe(true);
    for (const a of solid) {
      expect(a.rect.w * a.rect.h).toBeGreaterThanOrEqual(2048);
      expect(solidColour(s, a.rect.x, a.rect.y, a.rect.w, a.rect.h)).toBe(a.colour);
    }
    // The white window body (x 11..119, y 20..109, with black dots) is not solid; the blue
    // background right of it (x 120..229, y 0..79) is, and is found as one area or a few.
    const bgArea = solid.filter((a) => a.colour === 0x3a6ea5).reduce((n, a) => n + a.rect.w * a.rect.h, 0);
    expect(bgArea).toBeGreaterThan(110 * 80 * 0.9);
  });
});
