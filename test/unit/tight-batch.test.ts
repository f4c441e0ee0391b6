// Tight off the JS thread: TightEncoder.encodeBatch and the native filters (copy, gradient).
// Everything is decoded by the independent decoder in test/decoders/tight.ts (written from
// rfbproto, gradient filter included) and compared with the source picture: exactly for
// lossless rects, within a PSNR bound for JPEG ones.
import { constants, createInflate, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { native, type TightFilterJob } from '../../src/native.js';
import { PixelTranslator, SERVER_PIXEL_FORMAT, type PixelFormat } from '../../src/rfb/pixel-format.js';
import { TightEncoder, encoderOptionsFrom } from '../../src/rfb/encodings/index.js';
import { rectHeader } from '../../src/rfb/encodings/raw.js';
import { compactLength } from '../../src/rfb/encodings/tight.js';
import type { Rect } from '../../src/rfb/encodings/types.js';
import { TestClient } from '../decoders/index.js';
import { expectMatches, pf, picture, psnr, rng, type Picture } from '../helpers/encoder-pictures.js';

const RGB565 = pf({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 });
const DEPTH32 = pf({ depth: 32 }); // 32 bpp PIXELs, not TPIXELs
const BGR_BE32 = pf({ bigEndian: true, depth: 32, redShift: 0, greenShift: 8, blueShift: 16 });

const W = 301, H = 203;
const smooth = (x: number, y: number): number =>
  (Math.round(127 + 120 * Math.sin(x / 23 + y / 41)) << 16) | (Math.round(127 + 120 * Math.cos(y / 17)) << 8) | Math.round(127 + 120 * Math.sin((x + y) / 31));

/** Smooth colour, a text window, a solid band, noise in a corner: every Tight path. */
function desktop(seed: number, w = W, h = H): Picture {
  const r = rng(seed);
  return picture(w, h, (x, y) => {
    if (x > w - 70 && y > h - 60) return r() >>> 8;
    if (x > 20 && x < 150 && y > 20 && y < 120) return y < 32 ? 0x2050a0 : (x * 3 + y * 7 + seed) % 9 < 2 ? 0x101010 : 0xf8f8f0;
    if (y > 150 && y < 175) return 0x3a6ea5;
    return smooth(x + seed * 13, y);
  });
}

/** Random rects inside w×h, some tiny, some wide, some covering much of it. */
function randomRects(seed: number, count: number, w = W, h = H): Rect[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => {
    const rw = 1 + (r() % w), rh = 1 + (r() % Math.min(h, r() % 3 === 0 ? h : 40));
    return { x: r() % (w - rw + 1), y: r() % (h - rh + 1), w: rw, h: rh };
  });
}

/** Decodes a batch's entries (one per wire rect) into `client`; returns the rects seen. */
function decodeBatch(client: TestClient, entries: Buffer[][]): Rect[] {
  return client.decode(entries.flat(), entries.length);
}

const whole: Rect = { x: 0, y: 0, w: W, h: H };

describe('native Tight filters', () => {
  /** A Tight rect around filtered bytes: control (stream 0, filter follows), filter id, data. */
  function tightRect(r: Rect, filter: number, filtered: Buffer): Buffer[] {
    const body = filtered.length < 12 ? filtered : Buffer.concat([Buffer.from(compactLength(deflateSync(filtered).length)), deflateSync(filtered)]);
    return [rectHeader(r, 7), Buffer.from([0x40 | 0x0f, filter]), body]; // 0x0f: reset every stream first
  }

  const sizes: Array<[number, number]> = [[1, 1], [1, 9], [9, 1], [2, 2], [13, 5], [37, 29], [W, H]];

  it.each(sizes)('gradient of a %i×%i rect of 24-bit TPIXELs decodes to the surface', (w, h) => {
    const pic = desktop(3);
    const rect = { x: W - w - (w < W ? 1 : 0), y: H - h - (h < H ? 1 : 0), w, h };
    const filtered = native.tightFilter({ src: pic.surface.data, stride: W * 4, ...rect, filter: 2 });
    expect(filtered.length).toBe(w * h * 3);
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    client.decode(tightRect(rect, 2, filtered), 1);
    expect(client.tight.seen.has('gradient')).toBe(true);
    expectMatches(client, pic, rect, SERVER_PIXEL_FORMAT, `gradient ${w}x${h}`);
  });

  it.each([
    ['RGB565', RGB565],
    ['32 bpp depth 32', DEPTH32],
    ['32 bpp big-endian BGR, depth 32', BGR_BE32],
    ['BGR233', pf({ bitsPerPixel: 8, depth: 8, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6 })],
  ] as Array<[string, PixelFormat]>)('gradient of client pixels (%s) decodes to the surface, at odd sizes', (_n, f) => {
    const pic = desktop(5);
    const tr = new PixelTranslator(f);
    const bytes = f.bitsPerPixel / 8;
    for (const [w, h] of sizes) {
      const rect = { x: 1, y: 2, w: Math.min(w, W - 1), h: Math.min(h, H - 2) };
      const pixels = tr.translateRect(pic.surface, rect);
      const { bitsPerPixel, bigEndian, redMax, greenMax, blueMax, redShift, greenShift, blueShift } = f;
      const job: TightFilterJob = { src: pixels, stride: rect.w * bytes, x: 0, y: 0, w: rect.w, h: rect.h, filter: 2, format: { bitsPerPixel, bigEndian, redMax, greenMax, blueMax, redShift, greenShift, blueShift } };
      const client = new TestClient(W, H, f);
      client.decode(tightRect(rect, 2, native.tightFilter(job)), 1);
      expectMatches(client, pic, rect, f, `${w}x${h}`);
      // The copy filter gives the pixels back as they are.
      expect(native.tightFilter({ ...job, filter: 0 }).equals(pixels)).toBe(true);
    }
  });

  it('copy of the surface is R, G, B per pixel', () => {
    const pic = desktop(7);
    const rect = { x: 3, y: 4, w: 50, h: 9 };
    const copy = native.tightFilter({ src: pic.surface.data, stride: W * 4, ...rect, filter: 0 });
    for (let y = 0; y < rect.h; y++) {
      for (let x = 0; x < rect.w; x++) {
        const i = ((rect.y + y) * W + rect.x + x) * 3, o = (y * rect.w + x) * 3;
        expect([copy[o], copy[o + 1], copy[o + 2]]).toEqual([pic.rgb[i], pic.rgb[i + 1], pic.rgb[i + 2]]);
      }
    }
  });

  it('tightDeflateAsync: jobs and bytes through one stream in order, a chunk each, continuing across calls', async () => {
    const pic = desktop(9);
    const z = new native.ZStream(2);
    const inflater = createInflate();
    const inflated: Buffer[] = [];
    inflater.on('data', (d: Buffer) => inflated.push(d));
    const expected: Buffer[] = [];
    for (const round of [0, 1]) {
      const jobs: TightFilterJob[] = [{ x: 0, y: 0, w: 100, h: 50 }, { x: 7, y: 60, w: 201, h: 100 }, whole].map((r) => ({ src: pic.surface.data, stride: W * 4, ...r, filter: round === 0 ? 2 : 0 }));
      const items = [jobs[0]!, Buffer.from('between the jobs'), jobs[1]!, jobs[2]!];
      const { data, sizes, filters } = await native.tightDeflateAsync(items, z);
      let end = 0;
      const chunks = sizes.map((n) => data.subarray(end, (end += n)));
      expect(end).toBe(data.length);
      expect(chunks.length).toBe(items.length);
      expect(filters).toEqual(items.map((i) => (Buffer.isBuffer(i) ? -1 : (i as TightFilterJob).filter)));
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const want = Buffer.isBuffer(item) ? item : native.tightFilter(item as TightFilterJob);
        expected.push(want);
        // Each chunk ends in a sync flush: all of its item's bytes come out of it alone.
        const before = Buffer.concat(inflated).length;
        await new Promise<void>((done) => inflater.write(chunks[i]!, () => inflater.flush(constants.Z_SYNC_FLUSH, () => done())));
        expect(Buffer.concat(inflated).subarray(before).equals(want)).toBe(true);
      }
    }
    expect(Buffer.concat(inflated).equals(Buffer.concat(expected))).toBe(true);
  });

  it('tightDeflateAsync with filter 3 picks gradient for a smooth picture and copy for two-colour text', async () => {
    const smoothPic = picture(200, 100, smooth);
    const text = picture(200, 100, (x, y) => ((x * 7 + y * 3) % 11 < 3 ? 0x101010 : 0xf0f0e8));
    const job = (p: Picture): TightFilterJob => ({ src: p.surface.data, stride: 200 * 4, x: 0, y: 0, w: 200, h: 100, filter: 0 });
    const { filters } = await native.tightDeflateAsync([{ ...job(smoothPic), filter: 3 }, { ...job(text), filter: 3 }], new native.ZStream(1));
    expect(filters).toEqual([2, 0]);
    expect(() => native.tightFilter({ ...job(text), filter: 3 as 0 })).toThrow(/filter must be 0 \(copy\) or 2 \(gradient\), got 3/);
  });

  it('tightSampleRatio: noise does not deflate, a smooth picture deflates better with the gradient filter', () => {
    const r = rng(3);
    const noise = picture(200, 100, () => r() >>> 8);
    const smoothPic = picture(200, 100, smooth);
    const job = (p: Picture, filter: 0 | 2): TightFilterJob => ({ src: p.surface.data, stride: 200 * 4, x: 0, y: 0, w: 200, h: 100, filter });
    expect(native.tightSampleRatio(job(noise, 0))).toBeGreaterThan(0.9);
    expect(native.tightSampleRatio(job(noise, 2))).toBeGreaterThan(0.9);
    expect(native.tightSampleRatio(job(smoothPic, 2))).toBeLessThan(native.tightSampleRatio(job(smoothPic, 0)));
  });

  it('refuses bad jobs with one-line errors, and overlapping jobs on one stream', () => {
    const src = Buffer.alloc(10 * 10 * 4);
    const bad: Array<[Partial<TightFilterJob>, RegExp]> = [
      [{ x: 5, w: 6 }, /right edge/],
      [{ y: 5, h: 6 }, /bottom edge/],
      [{ stride: 10 * 4, w: 0.5 }, /w must be an integer/],
      [{ filter: 1 as 0 }, /filter must be 0 \(copy\) or 2/],
      [{ format: { ...SERVER_PIXEL_FORMAT, bitsPerPixel: 24 } }, /bitsPerPixel must be 8, 16 or 32/],
      [{ format: { ...SERVER_PIXEL_FORMAT, redMax: 200 } }, /redMax must be 2\^n - 1/],
    ];
    for (const [change, message] of bad) {
      const job = { src, stride: 40, x: 0, y: 0, w: 10, h: 10, filter: 0, ...change } as TightFilterJob;
      expect(() => native.tightFilter(job)).toThrow(message);
      expect(() => native.tightFilter(job)).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.not.stringContaining('\n') }));
    }
    const z = new native.ZStream(1);
    const p = native.tightDeflateAsync([{ src, stride: 40, x: 0, y: 0, w: 10, h: 10, filter: 2 }], z);
    expect(() => native.tightDeflateAsync([src], z)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(() => native.tightDeflateAsync([{ src, stride: 40, x: 0, y: 0, w: 11, h: 10, filter: 2 }], new native.ZStream(1))).toThrow(/item 0: .*right edge/);
    expect(() => z.deflate(src)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    return p;
  });
});

describe('TightEncoder.encodeBatch', () => {
  it.each([
    ['server 32 bpp', SERVER_PIXEL_FORMAT],
    ['RGB565', RGB565],
    ['32 bpp depth 32', DEPTH32],
    ['32 bpp big-endian BGR depth 32 (no gradient)', BGR_BE32],
  ] as Array<[string, PixelFormat]>)('lossless, %s: random rect sets decode to the surface, gradient where the format allows', async (_n, f) => {
    const encoder = new TightEncoder(false);
    const client = new TestClient(W, H, f);
    for (let round = 0; round < 4; round++) {
      const pic = desktop(round + 1);
      // Every pixel is covered by the last rect; the random ones before it overlap it.
      const rects = [...randomRects(round * 7 + 1, 6), whole];
      const entries = await encoder.encodeBatch(pic.surface, rects, f);
      for (const r of decodeBatch(client, entries)) expect(r.w).toBeLessThanOrEqual(2048);
      expectMatches(client, pic, whole, f, `round ${round}`);
    }
    expect(client.tight.seen.has('gradient')).toBe(f !== BGR_BE32);
    expect(client.tight.seen.has('copy')).toBe(f === BGR_BE32 || client.tight.seen.has('copy-raw'));
    expect(encoder.takeLossyRects()).toEqual([]);
  });

  it('sends the same rects as encode() on the same input, decoding to the same pixels, JPEG included', async () => {
    // Not byte for byte: a batch deflates a stream's inputs together (in parallel when big).
    for (const opts of [[], [-32 + 6]]) {
      const sync = new TightEncoder(false, encoderOptionsFrom(opts));
      const batch = new TightEncoder(false, encoderOptionsFrom(opts));
      const fromSync = new TestClient(W, H, SERVER_PIXEL_FORMAT), fromBatch = new TestClient(W, H, SERVER_PIXEL_FORMAT);
      for (let round = 0; round < 3; round++) {
        const pic = desktop(20 + round);
        const rects = randomRects(round + 40, 8);
        const out: Buffer[] = [];
        let n = 0;
        for (const r of rects) n += sync.encode(pic.surface, r, SERVER_PIXEL_FORMAT, out);
        const entries = await batch.encodeBatch(pic.surface, rects, SERVER_PIXEL_FORMAT);
        expect(entries.length).toBe(n);
        expect(decodeBatch(fromBatch, entries)).toEqual(fromSync.decode(out, n));
        expect(fromBatch.fb.pixels).toEqual(fromSync.fb.pixels);
        expect(batch.takeLossyRects()).toEqual(sync.takeLossyRects());
      }
      expect(fromBatch.tight.seen).toEqual(fromSync.tight.seen);
    }
  });

  it('JPEG with a quality level: lossy rects within PSNR 30 dB and reported by takeLossyRects, the rest exact', async () => {
    const encoder = new TightEncoder(false, encoderOptionsFrom([-32 + 6]));
    const [w, h] = [600, 300]; // several 64 Ki-pixel pieces: several JPEGs at once
    const client = new TestClient(w, h, SERVER_PIXEL_FORMAT);
    const pic = desktop(2, w, h);
    const all = { x: 0, y: 0, w, h };
    const entries = await encoder.encodeBatch(pic.surface, [all], SERVER_PIXEL_FORMAT);
    const rects = decodeBatch(client, entries);
    const jpegs = client.tight.jpegRects;
    expect(jpegs.length).toBeGreaterThan(1); // several JPEGs, made in parallel
    const key = (r: Rect): string => `${r.x},${r.y},${r.w},${r.h}`;
    expect(encoder.takeLossyRects().map(key).sort()).toEqual(jpegs.map(key).sort());
    expect(client.tight.seen.has('gradient')).toBe(false); // a client with a quality level never gets it
    for (const r of rects) {
      if (jpegs.includes(r as (typeof jpegs)[number])) expect(psnr(client, pic, r)).toBeGreaterThan(30);
      else expectMatches(client, pic, r, SERVER_PIXEL_FORMAT, `rect ${key(r)}`, false);
    }
    // The lossless refresh of the same client: no JPEG and, because it has a quality level, no gradient.
    encoder.lossless = true;
    const refresh = await encoder.encodeBatch(pic.surface, jpegs, SERVER_PIXEL_FORMAT);
    encoder.lossless = false;
    decodeBatch(client, refresh);
    expectMatches(client, pic, all, SERVER_PIXEL_FORMAT, 'after the refresh');
    expect(client.tight.seen.has('gradient')).toBe(false);
    expect(encoder.takeLossyRects()).toEqual([]);
  });

  it('the four streams continue across batches mixed with encode() calls', async () => {
    const encoder = new TightEncoder(false);
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const r = rng(77);
    const ten = [0x000000, 0xffffff, 0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff, 0x808080, 0x336699];
    const pictures = [
      (seed: number): Picture => desktop(seed),
      (seed: number): Picture => { const q = rng(seed); return picture(W, H, () => ten[q() % 10]!); }, // palette
      (seed: number): Picture => { const q = rng(seed); return picture(W, H, () => q() >>> 8); }, // noise: stored
    ];
    for (let step = 0; step < 9; step++) {
      const pic = pictures[step % 3]!(step + 30);
      const rects = randomRects(step + 90, 5);
      if (step % 2 === 0) {
        decodeBatch(client, await encoder.encodeBatch(pic.surface, [...rects, whole], SERVER_PIXEL_FORMAT));
      } else {
        const out: Buffer[] = [];
        let n = 0;
        for (const rect of [...rects, whole]) n += encoder.encode(pic.surface, rect, SERVER_PIXEL_FORMAT, out);
        client.decode(out, n);
      }
      expectMatches(client, pic, whole, SERVER_PIXEL_FORMAT, `step ${step}`);
      if (r() % 3 === 0) encoder.configure({ compressLevel: r() % 10 }); // new levels: streams start over, the client is told
    }
    expect([...client.tight.streamsUsed].sort()).toEqual([0, 1, 2, 3]);
    expect([...client.tight.seen].sort()).toEqual(['copy-raw', 'copy', 'fill', 'gradient', 'mono', 'palette'].sort());
  });

  it('splits wide rects to at most 2048 pixels and 64 Ki pixels, the fills by width only', async () => {
    const w = 4500, h = 70;
    const pic = picture(w, h, (x, y) => (y < 20 ? 0x204060 : smooth(x, y)));
    const client = new TestClient(w, h, SERVER_PIXEL_FORMAT);
    const rects = decodeBatch(client, await new TightEncoder(false).encodeBatch(pic.surface, [{ x: 0, y: 0, w, h }], SERVER_PIXEL_FORMAT));
    for (const r of rects) expect(r.w).toBeLessThanOrEqual(2048);
    const nonFill = rects.filter((r) => r.y >= 20);
    for (const r of nonFill) expect(r.w * r.h).toBeLessThanOrEqual(65536);
    expectMatches(client, pic, { x: 0, y: 0, w, h }, SERVER_PIXEL_FORMAT, 'wide');
  });

  it('TightPNG batches decode to the surface (PNG deflated off the JS thread)', async () => {
    const encoder = new TightEncoder(true);
    const client = new TestClient(W, H, SERVER_PIXEL_FORMAT);
    const pic = desktop(4);
    decodeBatch(client, await encoder.encodeBatch(pic.surface, [...randomRects(5, 4), whole], SERVER_PIXEL_FORMAT));
    expectMatches(client, pic, whole, SERVER_PIXEL_FORMAT, 'png');
    expect(client.tightPng.seen.has('png')).toBe(true);
  });

  it('refuses encode() while a batch runs, and an empty batch is empty', async () => {
    const encoder = new TightEncoder(false);
    const pic = desktop(1);
    const running = encoder.encodeBatch(pic.surface, [whole], SERVER_PIXEL_FORMAT);
    expect(() => encoder.encode(pic.surface, whole, SERVER_PIXEL_FORMAT, [])).toThrow(/while a batch is running/);
    await expect(encoder.encodeBatch(pic.surface, [whole], SERVER_PIXEL_FORMAT)).rejects.toThrow(/while a batch is running/);
    await running;
    expect(await encoder.encodeBatch(pic.surface, [], SERVER_PIXEL_FORMAT)).toEqual([]);
  });
});
