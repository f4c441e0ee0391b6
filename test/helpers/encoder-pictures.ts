// Pictures for the encoder tests and the lossless check they share: a picture is built from
// a colour function, so its RGB is known independently of the encoders; a decoded rect must
// hold the top bits of that RGB in the client's pixel format.
import { expect } from 'vitest';
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../../src/rfb/pixel-format.js';
import type { Rect, SurfaceView } from '../../src/rfb/encodings/types.js';
import { channelsOf, type TestClient } from '../decoders/index.js';

/** The server's pixel format with some fields changed. */
export const pf = (o: Partial<PixelFormat>): PixelFormat => ({ ...SERVER_PIXEL_FORMAT, ...o });

/** A test picture: the RGB of every pixel, and the canonical surface holding it. */
export interface Picture {
  surface: SurfaceView;
  rgb: Uint8Array; // r, g, b per pixel
}

/** `colour(x, y)` is 0xRRGGBB. */
export function picture(w: number, h: number, colour: (x: number, y: number) => number): Picture {
  const data = Buffer.alloc(w * h * 4);
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = colour(x, y);
      const i = y * w + x;
      rgb[i * 3] = c >>> 16; rgb[i * 3 + 1] = (c >>> 8) & 255; rgb[i * 3 + 2] = c & 255;
      data[i * 4] = c & 255; data[i * 4 + 1] = (c >>> 8) & 255; data[i * 4 + 2] = (c >>> 16) & 255; data[i * 4 + 3] = 0;
    }
  }
  return { surface: { data, width: w, height: h }, rgb };
}

/** A deterministic 32-bit LCG. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

export const TEN = [0x000000, 0xffffff, 0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff, 0x808080, 0x336699];

/** Lossless: every pixel of the rect has the source's top bits; with `outside`, nothing else was written. */
export function expectMatches(client: TestClient, pic: Picture, rect: Rect, f: PixelFormat, label: string, outside = true): void {
  const bits = (max: number): number => Math.log2(max + 1);
  let bad = 0;
  const first: string[] = [];
  for (let y = 0; y < client.fb.height; y++) {
    for (let x = 0; x < client.fb.width; x++) {
      const got = client.fb.get(x, y);
      const inside = x >= rect.x && x < rect.x + rect.w && y >= rect.y && y < rect.y + rect.h;
      if (!inside) {
        if (outside && got !== -1) { bad++; if (first.length < 3) first.push(`${x},${y} written outside the rect`); }
        continue;
      }
      const i = (y * pic.surface.width + x) * 3;
      const want = [pic.rgb[i]! >> (8 - bits(f.redMax)), pic.rgb[i + 1]! >> (8 - bits(f.greenMax)), pic.rgb[i + 2]! >> (8 - bits(f.blueMax))];
      const have = got < 0 ? [-1, -1, -1] : channelsOf(got, f);
      if (have[0] !== want[0] || have[1] !== want[1] || have[2] !== want[2]) {
        bad++;
        if (first.length < 3) first.push(`${x},${y}: got ${have} want ${want}`);
      }
    }
  }
  expect(bad, `${label}: ${first.join('; ')}`).toBe(0);
}

/** PSNR (dB) of the client's 32bpp framebuffer against the picture inside `rect`. */
export function psnr(client: TestClient, pic: Picture, rect: Rect): number {
  let se = 0, n = 0;
  for (let y = rect.y; y < rect.y + rect.h; y++) {
    for (let x = rect.x; x < rect.x + rect.w; x++) {
      const have = channelsOf(client.fb.get(x, y), client.pf);
      const i = (y * pic.surface.width + x) * 3;
      for (let c = 0; c < 3; c++) { const d = have[c]! - pic.rgb[i + c]!; se += d * d; n++; }
    }
  }
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255 * n) / se);
}
