// How Tight cuts JPEG areas: many-colour pieces next to each other merge into one JPEG per
// core for 32 bpp clients (rows at multiples of 16, the biggest MCU), stay at 64 Ki pixels
// for formats whose libvncclient decoder has a small JPEG buffer, and a JPEG too long for a
// compact length goes as two rects. Decoded by the independent test decoder (jpeg-js) and
// compared with the source: within a PSNR bound for JPEG, exactly for the rest.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../../src/rfb/pixel-format.js';
import { TightEncoder, encoderOptionsFrom } from '../../src/rfb/encodings/index.js';
import type { Rect } from '../../src/rfb/encodings/types.js';
import { TestClient } from '../decoders/index.js';
import { expectMatches, pf, picture, psnr, rng } from '../helpers/encoder-pictures.js';

const RGB565 = pf({ bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 });
const NOVNC = pf({ redShift: 0, greenShift: 8, blueShift: 16 });
const Q6 = encoderOptionsFrom([-32 + 6]);
const smooth = (x: number, y: number): number =>
  (Math.round(127 + 120 * Math.sin(x / 23 + y / 41)) << 16) | (Math.round(127 + 120 * Math.cos(y / 17)) << 8) | Math.round(127 + 120 * Math.sin((x + y) / 31));
const key = (r: Rect): string => `${r.x},${r.y},${r.w},${r.h}`;
const area = (rs: readonly Rect[]): number => rs.reduce((n, r) => n + r.w * r.h, 0);
const cores = Math.max(2, availableParallelism());

/** Encodes `rect` with encodeBatch or encode() and decodes it; the wire rects and JPEG rects seen. */
async function send(encoder: TightEncoder, client: TestClient, pic: { surface: { data: Buffer; width: number; height: number } }, rect: Rect, f: PixelFormat, batch: boolean): Promise<{ rects: Rect[]; jpegs: Rect[] }> {
  const before = client.tight.jpegRects.length;
  let rects: Rect[];
  if (batch) {
    const entries = await encoder.encodeBatch(pic.surface, [rect], f);
    rects = client.decode(entries.flat(), entries.length);
  } else {
    const out: Buffer[] = [];
    const n = encoder.encode(pic.surface, rect, f, out);
    rects = client.decode(out, n);
  }
  return { rects, jpegs: client.tight.jpegRects.slice(before) };
}

describe('Tight JPEG areas', () => {
  it.each([['encodeBatch', true], ['encode()', false]] as const)('%s: a big many-colour area is one JPEG per core, rows at multiples of 16, within PSNR 30 dB', async (_n, batch) => {
    const [w, h] = [1000, 700];
    const pic = picture(w, h, smooth);
    for (const f of [SERVER_PIXEL_FORMAT, NOVNC]) {
      const encoder = new TightEncoder(false, Q6);
      const client = new TestClient(w, h, f);
      const all = { x: 0, y: 0, w, h };
      const { rects, jpegs } = await send(encoder, client, pic, all, f, batch);
      expect(jpegs.length).toBe(rects.length); // nothing here is few-colour or solid
      expect(jpegs.length).toBe(Math.min(cores, Math.floor((w * h) / 65536)));
      expect(area(jpegs)).toBe(w * h);
      for (const r of jpegs.slice(0, -1)) expect(r.h % 16).toBe(0);
      expect(jpegs.some((r) => r.w * r.h > 65536)).toBe(true);
      expect(encoder.takeLossyRects().map(key).sort()).toEqual(jpegs.map(key).sort());
      expect(psnr(client, pic, all)).toBeGreaterThan(30);
    }
  });

  it('16 bpp: JPEG pieces of at most 64 Ki pixels (libvncclient decodes those through a small buffer)', async () => {
    const [w, h] = [1000, 300];
    const pic = picture(w, h, smooth);
    const encoder = new TightEncoder(false, Q6);
    const client = new TestClient(w, h, RGB565);
    const { jpegs } = await send(encoder, client, pic, { x: 0, y: 0, w, h }, RGB565, true);
    expect(jpegs.length).toBeGreaterThan(1);
    expect(area(jpegs)).toBe(w * h);
    for (const r of jpegs) expect(r.w * r.h).toBeLessThanOrEqual(65536);
    for (const r of jpegs.slice(0, -1)) expect(r.h % 16).toBe(0); // 1000 px wide: 64 rows
  });

  it('JPEG bands stop at few-colour pieces: text between two photo areas goes lossless, exactly', async () => {
    const [w, h] = [640, 640]; // pieces of 96 rows (64 Ki pixels, rounded down to 16): the text is rows 192..383, two pieces
    const text = (x: number, y: number): number => ((x * 3 + y * 7) % 9 < 2 ? 0x101010 : 0xf8f8f0);
    const pic = picture(w, h, (x, y) => (y >= 192 && y < 384 ? text(x, y) : smooth(x, y)));
    const encoder = new TightEncoder(false, Q6);
    const client = new TestClient(w, h, SERVER_PIXEL_FORMAT);
    const { rects, jpegs } = await send(encoder, client, pic, { x: 0, y: 0, w, h }, SERVER_PIXEL_FORMAT, true);
    for (const j of jpegs) expect(j.y + j.h <= 192 || j.y >= 384).toBe(true);
    expect(jpegs.some((j) => j.y < 192) && jpegs.some((j) => j.y >= 384)).toBe(true);
    expect(area(jpegs)).toBe(w * (h - 192));
    for (const r of rects) if (!jpegs.includes(r as (typeof jpegs)[number])) expectMatches(client, pic, r, SERVER_PIXEL_FORMAT, `rect ${key(r)}`, false);
    for (const j of jpegs) expect(psnr(client, pic, j)).toBeGreaterThan(30);
  });

  it('a JPEG longer than a compact length holds (noise at quality 100) goes as two rects', async () => {
    const [w, h] = [2048, 512]; // the biggest JPEG part; noise at quality 100, 4:4:4 is ~4 bytes a pixel
    const r = rng(9);
    const pic = picture(w, h, () => r() >>> 8);
    const encoder = new TightEncoder(false, encoderOptionsFrom([-412, -768])); // fine quality 100, no subsampling
    encoder.jpegParts = 1;
    const client = new TestClient(w, h, SERVER_PIXEL_FORMAT);
    for (const batch of [true, false]) {
      const { jpegs } = await send(encoder, client, pic, { x: 0, y: 0, w, h }, SERVER_PIXEL_FORMAT, batch);
      expect(jpegs.map(key)).toEqual(['0,0,2048,256', '0,256,2048,256']);
      expect(encoder.takeLossyRects()).toEqual([{ x: 0, y: 0, w, h }]);
      expect(psnr(client, pic, { x: 0, y: 0, w, h })).toBeGreaterThan(40);
    }
  }, 30_000);
});
