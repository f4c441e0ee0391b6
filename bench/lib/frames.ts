// What the encoder benchmarks share: 1920×1080 canonical surfaces drawn from a colour
// function, a seeded random source for them, and the timing of one encoder on a whole frame.
import { performance } from 'node:perf_hooks';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import type { Encoder, SurfaceView } from '../../src/rfb/encodings/types.js';

export const W = 1920, H = 1080;

/** A deterministic 32-bit LCG. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** A W×H surface; `colour(x, y)` is 0xRRGGBB (higher bits are dropped). */
export function frame(colour: (x: number, y: number) => number): SurfaceView {
  const data = Buffer.alloc(W * H * 4);
  const words = new Uint32Array(data.buffer, data.byteOffset, W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) words[y * W + x] = colour(x, y) & 0xffffff;
  return { data, width: W, height: H };
}

/** Encodes the whole surface as one rect: one warm-up, then `runs` timed calls (ms, median and fastest) and the bytes of the last. */
export function timeWholeFrame(encoder: Encoder, surface: SurfaceView, pf: PixelFormat, runs = 5): { median: number; min: number; bytes: number } {
  const rect = { x: 0, y: 0, w: surface.width, h: surface.height };
  encoder.encode(surface, rect, pf, []); // warm-up
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const out: Buffer[] = [];
    const t0 = performance.now();
    encoder.encode(surface, rect, pf, out);
    times.push(performance.now() - t0);
    bytes = out.reduce((n, b) => n + b.length, 0);
  }
  times.sort((a, b) => a - b);
  return { median: times[runs >> 1]!, min: times[0]!, bytes };
}
