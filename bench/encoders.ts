// Encoder speed on 1920×1080 frames (a desktop-like picture and noise), whole frame as one
// rect, for each encoding and a few client pixel formats. Prints ms per frame and bytes.
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../src/rfb/pixel-format.js';
import { SUPPORTED_ENCODINGS, createEncoder } from '../src/rfb/encodings/index.js';
import type { SurfaceView } from '../src/rfb/encodings/types.js';
import { H, W, frame, rng, timeWholeFrame } from './lib/frames.js';

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
  for (const [fname, pf] of FORMATS) {
    for (const [pname, surface] of pictures) {
      for (const enc of SUPPORTED_ENCODINGS) {
        const { median, min, bytes } = timeWholeFrame(createEncoder(enc)!, surface, pf);
        console.log(
          `${fname.padEnd(13)} ${pname.padEnd(8)} enc ${String(enc).padStart(2)}: ` +
          `median ${median.toFixed(1).padStart(7)} ms  min ${min.toFixed(1).padStart(7)} ms  ${(bytes / 1024).toFixed(0).padStart(6)} KiB`,
        );
      }
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
