// ZStream on 1080p-sized deflate inputs: one stream on the calling thread against the
// parallel path (blocks on the worker pool + the caller), at the levels our encoders use.
// Inputs are what the encoders really hand to deflate: ZRLE's tile data for a whole
// plasma-like and a desktop-like frame, one Tight full-colour rect (64K pixels, RGB), noise.
// Prints ms per call (median of fresh streams) and output bytes.
import { performance } from 'node:perf_hooks';
import { native, type NativeZStream } from '../src/native.js';
import { SERVER_PIXEL_FORMAT } from '../src/rfb/pixel-format.js';
import { ZrleTileEncoder } from '../src/rfb/encodings/zrle.js';
import type { SurfaceView } from '../src/rfb/encodings/types.js';

const W = 1920, H = 1080;
// The addon's second argument: inputs of at least this many bytes go parallel.
const ZStream = native.ZStream as unknown as new (level: number, parallelMinBytes?: number) => NativeZStream;

function frame(colour: (x: number, y: number) => number): SurfaceView {
  const data = Buffer.alloc(W * H * 4);
  const words = new Uint32Array(data.buffer, data.byteOffset, W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) words[y * W + x] = colour(x, y) & 0xffffff;
  return { data, width: W, height: H };
}

/** Smooth full-screen motion: sine fields through a smooth palette (as bench/xvnc plasma). */
function plasma(): SurfaceView {
  const pal = Array.from({ length: 512 }, (_, k) => {
    const t = (2 * Math.PI * k) / 512;
    const c = (o: number) => Math.round(128 + 127 * Math.sin(t + o));
    return (c(0) << 16) | (c(2.1) << 8) | c(4.2);
  });
  return frame((x, y) => {
    const v = 64 * (Math.sin(x / 102) + Math.sin(y / 67) + Math.sin((x + y) / 143) + Math.sin(Math.hypot(x - 700, y - 400) / 48));
    return pal[(Math.round(v) + 256) & 511]!;
  });
}

/** Gradient wallpaper, a taskbar, a window with text lines, a photo-like patch. */
function desktop(): SurfaceView {
  let s = 1;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  return frame((x, y) => {
    if (y >= H - 40) return x % 200 < 180 && y > H - 34 && y < H - 6 && (x * 3 + y) % 7 < 2 ? 0xffffff : 0x202830;
    if (x >= 1200 && x < 1700 && y >= 150 && y < 500) return (((x - 1200) * 255 / 500) << 16) | (((y - 150) * 255 / 350) << 8) | (r() & 15);
    if (x >= 200 && x < 1100 && y >= 100 && y < 800) {
      if (y < 130) return 0x3050a0;
      const line = (y - 140) % 18;
      return line < 12 && x > 220 && x < 1000 && ((x >> 2) * 7 + (y >> 1)) % 5 < 2 ? 0x101010 : 0xfafafa;
    }
    return (((x * 80) / W) << 16) | (((y * 120) / H + 60) << 8) | 0xa0;
  });
}

/** The bytes ZRLE deflates for the whole frame (its tile data, uncompressed). */
function zrleInput(surface: SurfaceView): Buffer {
  return Buffer.from(new ZrleTileEncoder().encodeTiles(surface, { x: 0, y: 0, w: W, h: H }, SERVER_PIXEL_FORMAT));
}

/** One Tight full-colour rect's pixels: 65536 pixels as R, G, B. */
function tightRect(surface: SurfaceView): Buffer {
  const out = Buffer.alloc(65536 * 3);
  for (let i = 0; i < 65536; i++) {
    out[i * 3] = surface.data[i * 4 + 2]!;
    out[i * 3 + 1] = surface.data[i * 4 + 1]!;
    out[i * 3 + 2] = surface.data[i * 4]!;
  }
  return out;
}

function noise(n: number): Buffer {
  let s = 7;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return b;
}

function measure(input: Buffer, level: number, parallel: boolean): { ms: number; bytes: number } {
  const runs = input.length > 1 << 20 ? 5 : 21;
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i <= runs; i++) {
    const z = new ZStream(level, parallel ? undefined : Infinity);
    const t0 = performance.now();
    bytes = z.deflate(input).length;
    if (i > 0) times.push(performance.now() - t0); // the first run warms up
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1]!, bytes };
}

export async function run(): Promise<void> {
  const p = plasma(), d = desktop();
  const inputs: Array<[string, Buffer, number[]]> = [
    ['plasma ZRLE frame', zrleInput(p), [6, 4, 1]],
    ['desktop ZRLE frame', zrleInput(d), [6, 4, 1]],
    ['plasma Tight rect', tightRect(p), [2, 6]],
    ['noise 6 MiB', noise(6 << 20), [6, 1]],
  ];
  for (const [name, input, levels] of inputs) {
    for (const level of levels) {
      const one = measure(input, level, false);
      const par = measure(input, level, true);
      console.log(
        `${name.padEnd(19)} ${(input.length / 1024).toFixed(0).padStart(5)} KiB  level ${level}: ` +
          `single ${one.ms.toFixed(1).padStart(6)} ms ${(one.bytes / 1024).toFixed(1).padStart(7)} KiB | ` +
          `parallel ${par.ms.toFixed(1).padStart(6)} ms ${(par.bytes / 1024).toFixed(1).padStart(7)} KiB | ` +
          `×${(one.ms / par.ms).toFixed(2)} faster, ${(((par.bytes / one.bytes) - 1) * 100).toFixed(2)}% bytes`,
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
