// Encoder speed on 1920×1080 frames (a desktop-like picture and noise), whole frame as one
// rect, for each encoding and a few client pixel formats. Prints ms per frame and bytes.
import { performance } from 'node:perf_hooks';
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../src/rfb/pixel-format.js';
import { SUPPORTED_ENCODINGS, createEncoder } from '../src/rfb/encodings/index.js';
import type { SurfaceView } from '../src/rfb/encodings/types.js';

const W = 1920, H = 1080;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

function frame(colour: (x: number, y: number) => number): SurfaceView {
  const data = Buffer.alloc(W * H * 4);
  const words = new Uint32Array(data.buffer, data.byteOffset, W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) words[y * W + x] = colour(x, y) & 0xffffff;
  return { data, width: W, height: H };
}

/** Wallpaper gradient, a taskbar, windows with title bars and text lines, one photo. */
function desktop(): SurfaceView {
  const r = rng(1);
  return frame((x, y) => {
    if (y >= H - 40) return x % 200 < 180 && y > H - 34 && y < H - 6 && (x * 3 + y) % 7 < 2 ? 0xffffff : 0x202830;
    if (x >= 1200 && x < 1700 && y >= 150 && y < 500) return r(); // photo
    if (x >= 200 && x < 1100 && y >= 100 && y < 800) {
      if (y < 130) return 0x3050a0;
      const line = (y - 140) % 18;
      return line < 12 && x > 220 && x < 1000 && ((x >> 2) * 7 + (y >> 1)) % 5 < 2 ? 0x101010 : 0xfafafa;
    }
    return (((x * 80) / W) << 16) | (((y * 120) / H + 60) << 8) | 0xa0;
  });
}

const FORMATS: Array<[string, PixelFormat]> = [
  ['server 32bpp', SERVER_PIXEL_FORMAT],
  ['RGB565', { ...SERVER_PIXEL_FORMAT, bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 }],
  ['BGR233', { ...SERVER_PIXEL_FORMAT, bitsPerPixel: 8, depth: 8, redMax: 7, greenMax: 7, blueMax: 3, redShift: 0, greenShift: 3, blueShift: 6 }],
];

export async function run(): Promise<void> {
  const pictures: Array<[string, SurfaceView]> = [['desktop', desktop()], ['noise', (() => { const r = rng(2); return frame(() => r() >>> 8); })()]];
  const rect = { x: 0, y: 0, w: W, h: H };
  for (const [fname, pf] of FORMATS) {
    for (const [pname, surface] of pictures) {
      for (const enc of SUPPORTED_ENCODINGS) {
        const encoder = createEncoder(enc)!;
        const runs = 5;
        let bytes = 0;
        encoder.encode(surface, rect, pf, []); // warm-up
        const times: number[] = [];
        for (let i = 0; i < runs; i++) {
          const out: Buffer[] = [];
          const t0 = performance.now();
          encoder.encode(surface, rect, pf, out);
          times.push(performance.now() - t0);
          bytes = out.reduce((n, b) => n + b.length, 0);
        }
        times.sort((a, b) => a - b);
        console.log(
          `${fname.padEnd(13)} ${pname.padEnd(8)} enc ${String(enc).padStart(2)}: ` +
          `median ${times[runs >> 1]!.toFixed(1).padStart(7)} ms  min ${times[0]!.toFixed(1).padStart(7)} ms  ${(bytes / 1024).toFixed(0).padStart(6)} KiB`,
        );
      }
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
