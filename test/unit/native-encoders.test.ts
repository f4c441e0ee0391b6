// Native Raw and ZRLE (native/raw_encoder.cc, zrle_encoder.cc, pixel_translate.cc):
// - pixel translation is bit for bit the TypeScript PixelTranslator's, for random formats;
// - ZRLE tile data (inflated) is byte for byte the TypeScript ZrleTileEncoder's;
// - batches decode (independent decoders in test/decoders) to the source picture's pixels,
//   the same as the sync encode(), and keep one continuous zlib stream across batches.
import { constants, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { PixelTranslator, SERVER_PIXEL_FORMAT, type PixelFormat } from '../../src/rfb/pixel-format.js';
import { ENCODING_RAW, RawEncoder, rectHeader } from '../../src/rfb/encodings/raw.js';
import { ENCODING_ZRLE, ZRLE_ASYNC_MIN_PIXELS, ZrleEncoder, ZrleTileEncoder } from '../../src/rfb/encodings/zrle.js';
import type { EncodedRects, Rect, SurfaceView } from '../../src/rfb/encodings/types.js';
import { Reader, TestClient } from '../decoders/index.js';
import { TEN, expectMatches, pf, picture, rng, type Picture } from '../helpers/encoder-pictures.js';

const FORMATS: Array<[string, PixelFormat]> = [
  ['server 32bpp', SERVER_PIXEL_FORMAT],
  ['32bpp big-endian (server layout)', pf({ bigEndian: true })],
  ['32bpp big-endian BGR', pf({ bigEndian: true, redShift: 0, greenShift: 8, blueShift: 16 })],
  ['32bpp RGBX (colour in top bytes)', pf({ redShift: 24, greenShift: 16, blueShift: 8 })],
  ['32bpp 10-bit channels', pf({ depth: 30, redMax: 1023, greenMax: 1023, blueMax: 1023, redShift: 20, greenShift: 10, blueShift: 0 })],
  ['RGB565', pf({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 })],
  ['RGB565 big-endian', pf({ bitsPerPixel: 16, depth: 16, bigEndian: true, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 })],
  ['RGB555', pf({ bitsPerPixel: 16, depth: 15, redMax: 31, greenMax: 31, blueMax: 31, redShift: 10, greenShift: 5, blueShift: 0 })],
  ['BGR233', pf({ bitsPerPixel: 8, depth: 8, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6 })],
];

/** A random valid true-colour format: any bpp, channel widths, non-overlapping shifts, byte order. */
function randomFormat(r: () => number): PixelFormat {
  const bpp = [8, 16, 32][r() % 3]!;
  for (;;) {
    const bits = [0, 0, 0].map(() => 1 + (r() % Math.min(bpp === 32 ? 10 : 8, bpp - 2)));
    const total = bits[0]! + bits[1]! + bits[2]!;
    if (total > bpp) continue;
    // Channels in a random order, with random gaps between them.
    const order = [0, 1, 2].sort(() => (r() & 1) - 0.5);
    const shifts = [0, 0, 0];
    let free = bpp - total;
    let at = 0;
    for (const c of order) {
      const gap = r() % (free + 1);
      free -= gap;
      at += gap;
      shifts[c] = at;
      at += bits[c]!;
    }
    const max = (b: number) => 2 ** b - 1;
    return {
      bitsPerPixel: bpp, depth: 1 + (r() % bpp), bigEndian: (r() & 1) === 1, trueColour: true,
      redMax: max(bits[0]!), greenMax: max(bits[1]!), blueMax: max(bits[2]!),
      redShift: shifts[0]!, greenShift: shifts[1]!, blueShift: shifts[2]!,
    };
  }
}

/** Random XRGB words, X byte included (the identity format keeps it). */
function randomSurface(w: number, h: number, seed: number, offset = 0): SurfaceView {
  const r = rng(seed);
  const backing = Buffer.alloc(w * h * 4 + offset);
  for (let i = 0; i < backing.length; i++) backing[i] = r() >>> 24;
  return { data: backing.subarray(offset), width: w, height: h };
}

const W = 203, H = 141; // edge tiles everywhere (not multiples of 64)

/** Odd sizes: 1×1, 65×3, rects at the right/bottom edges, whole surface, random ones. */
function rectsFor(seed: number, w = W, h = H): Rect[] {
  const r = rng(seed);
  const rects: Rect[] = [
    { x: 0, y: 0, w, h },
    { x: w - 1, y: h - 1, w: 1, h: 1 },
    { x: 0, y: 0, w: 1, h: 1 },
    { x: w - 65, y: 7, w: 65, h: 3 },
    { x: w - 70, y: h - 66, w: 70, h: 66 },
    { x: 0, y: h - 1, w, h: 1 },
    { x: w - 1, y: 0, w: 1, h },
  ];
  for (let i = 0; i < 8; i++) {
    const x = r() % w, y = r() % h;
    rects.push({ x, y, w: 1 + (r() % (w - x)), h: 1 + (r() % (h - y)) });
  }
  return rects;
}

const IMAGES: Record<string, () => Picture> = {
  'ten-colour blocks': () => picture(W, H, (x, y) => TEN[(Math.floor(x / 7) + Math.floor(y / 5) * 3) % 10]!),
  'two colours': () => picture(W, H, (x, y) => ((x * 7 + y * 3) % 11 < 3 ? 0x101010 : 0xf0f0e8)),
  gradient: () => picture(W, H, (x, y) => ((x * 255 / (W - 1)) << 16) | ((y * 255 / (H - 1)) << 8) | ((x + y) & 255)),
  noise: () => { const r = rng(9); return picture(W, H, () => r() >>> 8); },
  'half solid, half noise': () => { const r = rng(11); return picture(W, H, (_x, y) => (y % 64 < 32 ? 0x123456 : r() >>> 8)); },
  'many colours in runs': () => { const r = rng(4); let c = 0; return picture(W, H, () => ((r() & 7) === 0 ? (c = r() >>> 8) : c)); },
};

/**
 * Every pixel decoded as the picture says: its top bits (expectMatches) for channels up to 8
 * bits; wider channels are scaled, so those are compared with PixelTranslator's value.
 */
function expectPicture(client: TestClient, pic: Picture, f: PixelFormat, label: string): void {
  if (Math.max(f.redMax, f.greenMax, f.blueMax) <= 255) {
    expectMatches(client, pic, { x: 0, y: 0, w: pic.surface.width, h: pic.surface.height }, f, label);
    return;
  }
  const tr = new PixelTranslator(f);
  const { data, width, height } = pic.surface;
  let bad = 0;
  for (let i = 0; i < width * height; i++) if (client.fb.pixels[i] !== tr.pixel(data.readUInt32LE(i * 4))) bad++;
  expect(bad, label).toBe(0);
}

/** The bytes a session writes for a batch, checking the entry shape (one entry per rect). */
function flatten(encoded: EncodedRects, rects: readonly Rect[]): Buffer {
  const drawn = rects.filter((r) => r.w > 0 && r.h > 0);
  expect(encoded.length).toBe(drawn.length);
  // Each entry is its own rectangle (a session may cut an update between entries).
  encoded.forEach((entry, i) => {
    const head = Buffer.concat(entry);
    const r = drawn[i]!;
    expect([head.readUInt16BE(0), head.readUInt16BE(2), head.readUInt16BE(4), head.readUInt16BE(6)]).toEqual([r.x, r.y, r.w, r.h]);
  });
  return Buffer.concat(encoded.flat());
}

describe('native pixel translation = PixelTranslator (via Raw)', () => {
  it.each(FORMATS)('%s: every rect, aligned and unaligned surface', (_name, f) => {
    for (const offset of [0, 1, 2]) {
      const surface = randomSurface(W, H, 7 + offset, offset);
      const tr = new PixelTranslator(f);
      for (const rect of rectsFor(3)) {
        const want = Buffer.concat([rectHeader(rect, ENCODING_RAW), tr.translateRect(surface, rect)]);
        expect(native.rawEncodeSync(surface, [rect], f).equals(want), `${JSON.stringify(rect)} offset ${offset}`).toBe(true);
      }
    }
  });

  it('200 random formats', () => {
    const r = rng(2024);
    const surface = randomSurface(37, 23, 5);
    const rect = { x: 3, y: 2, w: 31, h: 19 };
    for (let i = 0; i < 200; i++) {
      const f = randomFormat(r);
      const want = new PixelTranslator(f).translateRect(surface, rect);
      const got = native.rawEncodeSync(surface, [rect], f).subarray(12);
      expect(got.equals(want), JSON.stringify(f)).toBe(true);
    }
  });
});

describe('native Raw batches', () => {
  it.each(FORMATS)('%s: a batch (async) equals the sync encode() of each rect and decodes to the picture', async (_name, f) => {
    const pic = IMAGES.gradient!();
    const rects = rectsFor(5);
    const encoder = new RawEncoder();
    const batch = flatten(await encoder.encodeBatch(pic.surface, rects, f), rects);
    const parts: Buffer[] = [];
    for (const rect of rects) encoder.encode(pic.surface, rect, f, parts);
    expect(batch.equals(Buffer.concat(parts))).toBe(true);
    const client = new TestClient(W, H, f);
    client.decode([batch], rects.length);
    expectPicture(client, pic, f, 'raw batch');
  });

  it('small batches (sync path) and big ones (worker, both cores) give the same bytes', async () => {
    const surface = randomSurface(1200, 700, 1);
    const big = [{ x: 0, y: 0, w: 1200, h: 700 }, { x: 5, y: 600, w: 1000, h: 99 }];
    const small = [{ x: 9, y: 9, w: 20, h: 20 }];
    const encoder = new RawEncoder();
    for (const f of [SERVER_PIXEL_FORMAT, FORMATS[6]![1], FORMATS[8]![1]]) {
      for (const rects of [big, small]) {
        const got = flatten(await encoder.encodeBatch(surface, rects, f), rects);
        const tr = new PixelTranslator(f);
        const want = Buffer.concat(rects.flatMap((r) => [rectHeader(r, 0), tr.translateRect(surface, r)]));
        expect(got.equals(want)).toBe(true);
      }
    }
  });

  it('empty rects write nothing; bad input is a clear error, not a crash', async () => {
    const surface = randomSurface(10, 10, 1);
    const encoder = new RawEncoder();
    const rects = [{ x: 0, y: 0, w: 0, h: 5 }, { x: 1, y: 1, w: 2, h: 2 }, { x: 3, y: 3, w: 4, h: 0 }];
    const out = await encoder.encodeBatch(surface, rects, SERVER_PIXEL_FORMAT);
    expect(out.length).toBe(1);
    await expect(native.rawEncode(surface, [{ x: 5, y: 5, w: 6, h: 1 }], SERVER_PIXEL_FORMAT)).rejects.toThrow(/outside the 10x10 surface/);
    await expect(native.rawEncode(surface, [{ x: 0, y: 0, w: 1, h: 1 }], pf({ trueColour: false }))).rejects.toThrow(/colour-map/);
    expect(() => native.rawEncodeSync({ data: Buffer.alloc(10), width: 10, height: 10 }, [], SERVER_PIXEL_FORMAT)).toThrow(/less than 10x10x4/);
    expect(() => native.rawEncodeSync(surface, [{ x: -1, y: 0, w: 1, h: 1 }], SERVER_PIXEL_FORMAT)).toThrow(/rect 0 must be/);
  });
});

/** Splits a ZRLE rect sequence into the zlib chunks (one per rect). */
function zrleChunks(buf: Buffer, count: number): { rect: Rect; chunk: Buffer }[] {
  const r = new Reader(buf);
  const out: { rect: Rect; chunk: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    const rect = { x: r.u16(), y: r.u16(), w: r.u16(), h: r.u16() };
    expect(r.s32()).toBe(ENCODING_ZRLE);
    out.push({ rect, chunk: Buffer.from(r.bytes(r.u32())) });
  }
  expect(r.done).toBe(true);
  return out;
}

describe('native ZRLE', () => {
  it.each(FORMATS)('%s: tile data is byte for byte the TypeScript tile encoder\'s (CPIXEL, choices)', async (_name, f) => {
    const reference = new ZrleTileEncoder();
    for (const [name, make] of Object.entries(IMAGES)) {
      const pic = make();
      const rects = rectsFor(11);
      const z = new native.ZStream(6);
      const buf = flatten(await new ZrleEncoder(z).encodeBatch(pic.surface, rects, f), rects);
      const chunks = zrleChunks(buf, rects.length);
      // One inflater over every chunk: the batch is one continuous stream.
      const inflated = inflateSync(Buffer.concat(chunks.map((c) => c.chunk)), { finishFlush: constants.Z_SYNC_FLUSH });
      const want = Buffer.concat(rects.map((r) => Buffer.from(reference.encodeTiles(pic.surface, r, f))));
      expect(inflated.equals(want), name).toBe(true);
      expect(chunks.map((c) => c.rect)).toEqual(rects);
    }
  });

  it.each(FORMATS)('%s: batch and sync encode() decode to the picture', async (_name, f) => {
    for (const [name, make] of Object.entries(IMAGES)) {
      const pic = make();
      const rects = rectsFor(13);
      const batchClient = new TestClient(W, H, f);
      batchClient.decode([flatten(await new ZrleEncoder().encodeBatch(pic.surface, rects, f), rects)], rects.length);
      const syncClient = new TestClient(W, H, f);
      const sync = new ZrleEncoder();
      for (const rect of rects) {
        const parts: Buffer[] = [];
        syncClient.decode(parts, sync.encode(pic.surface, rect, f, parts));
      }
      expectPicture(batchClient, pic, f, `${name} batch`);
      expect(syncClient.fb.pixels).toEqual(batchClient.fb.pixels);
    }
  });

  it('many rects over several batches and sync calls keep one zlib stream (parallel deflate included)', async () => {
    // Big enough for the parallel paths (tile bands on the pool, deflate split across rects).
    const w = 800, h = 480;
    const r = rng(77);
    const pic = picture(w, h, (x, y) => ((x >> 4) + (y >> 3)) % 5 === 0 ? r() >>> 8 : TEN[((x >> 5) + (y >> 5)) % 10]!);
    const f = FORMATS[2]![1];
    const encoder = new ZrleEncoder();
    const client = new TestClient(w, h, f);
    const all: Buffer[] = [];
    for (let round = 0; round < 2; round++) {
      const rects: Rect[] = [];
      for (let y = 0; y < h; y += 64) for (let x = 0; x < w; x += 256) rects.push({ x, y, w: Math.min(256, w - x), h: Math.min(64, h - y) });
      const batch = flatten(await encoder.encodeBatch(pic.surface, rects, f), rects);
      all.push(batch);
      client.decode([batch], rects.length);
      const parts: Buffer[] = [];
      const n = encoder.encode(pic.surface, { x: 0, y: 0, w, h }, f, parts) + encoder.encode(pic.surface, { x: 3, y: 4, w: 5, h: 6 }, f, parts);
      all.push(Buffer.concat(parts));
      client.decode(parts, n);
    }
    expectMatches(client, pic, { x: 0, y: 0, w, h }, f, 'many rects');
    // And one inflater over every chunk of the whole connection.
    const chunks = all.flatMap((b) => {
      const out: Buffer[] = [];
      const rd = new Reader(b);
      while (!rd.done) {
        rd.bytes(12);
        out.push(Buffer.from(rd.bytes(rd.u32())));
      }
      return out;
    });
    expect(() => inflateSync(Buffer.concat(chunks), { finishFlush: constants.Z_SYNC_FLUSH })).not.toThrow();
  });

  it('small batches (on the JS thread) and big ones (worker) continue one stream and decode', async () => {
    const pic = IMAGES['many colours in runs']!();
    const f = FORMATS[7]![1];
    const encoder = new ZrleEncoder();
    const client = new TestClient(W, H, f);
    const small = [{ x: 0, y: 0, w: 1, h: 1 }, { x: W - 65, y: H - 3, w: 65, h: 3 }];
    expect(small.reduce((n, r) => n + r.w * r.h, 0)).toBeLessThan(ZRLE_ASYNC_MIN_PIXELS);
    for (const rects of [small, [{ x: 0, y: 0, w: W, h: H }], small, rectsFor(3)]) {
      client.decode([flatten(await encoder.encodeBatch(pic.surface, rects, f), rects)], rects.length);
    }
    expectPicture(client, pic, f, 'small and big batches');
  });

  it('claims the stream while a batch runs (EBUSY), and refuses bad arguments with one-line errors', async () => {
    const pic = IMAGES.noise!();
    const z = new native.ZStream(6);
    const rects = [{ x: 0, y: 0, w: W, h: H }];
    const running = native.zrleEncode(z, pic.surface, rects, SERVER_PIXEL_FORMAT);
    await expect(native.zrleEncode(z, pic.surface, rects, SERVER_PIXEL_FORMAT)).rejects.toMatchObject({ code: 'EBUSY' });
    expect(() => native.zrleEncodeSync(z, pic.surface, rects, SERVER_PIXEL_FORMAT)).toThrow(/must not overlap/);
    expect(() => z.deflate(Buffer.from('x'))).toThrow(/must not overlap/);
    const first = await running;
    const second = native.zrleEncodeSync(z, pic.surface, rects, SERVER_PIXEL_FORMAT);
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    client.decode([first, second], 2);
    expectMatches(client, pic, rects[0]!, SERVER_PIXEL_FORMAT, 'after EBUSY');
    const fake = { deflate: () => Buffer.alloc(0) } as unknown as typeof z;
    await expect(native.zrleEncode(fake, pic.surface, rects, SERVER_PIXEL_FORMAT)).rejects.toThrow(/must be a native ZStream/);
    await expect(native.zrleEncode(z, pic.surface, [{ x: 0, y: 0, w: W + 1, h: 1 }], SERVER_PIXEL_FORMAT)).rejects.toMatchObject({ code: 'ERANGE' });
    expect(() => native.zrleEncodeSync(z, pic.surface, rects, pf({ bitsPerPixel: 24 }))).toThrow(/bits-per-pixel 24/);
  });
});
