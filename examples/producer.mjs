#!/usr/bin/env node
// A stand-alone "guest" for trying `vgpu-vnc --device FILE`: serves a moving test picture
// (colour bars, a grey ramp, a bouncing square, a frame counter) over the draft region
// protocol, in any supported pixel format. Run `npm install` (or `npm run build`) first.
//
//   node examples/producer.mjs /dev/shm/fb --size 1024x768 --fourcc RGB565
//   vgpu-vnc --device /dev/shm/fb
import { parseArgs } from 'node:util';
import { FbRegionProducer } from '../dist/src/source/fbregion-producer.js';
import { Fourcc, bytesPerPixel } from '../dist/src/surface/fourcc.js';
import { drawText } from '../dist/src/source/font.js';

const usage = 'usage: node examples/producer.mjs FILE [--size WxH] [--fourcc NAME] [--fps N]';

function fail(message) {
  console.error(`producer: ${message}\n${usage}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: { size: { type: 'string', default: '1024x768' }, fourcc: { type: 'string', default: 'XRGB8888' }, fps: { type: 'string', default: '30' } },
  });
} catch (err) {
  fail(err.message);
}
const [file, ...extra] = args.positionals;
if (!file || extra.length) fail('give exactly one FILE');
const size = /^(\d+)x(\d+)$/.exec(args.values.size);
if (!size) fail(`--size must look like 1024x768, got "${args.values.size}"`);
const [width, height] = [Number(size[1]), Number(size[2])];
if (width < 1 || height < 1 || width > 16384 || height > 16384) fail('--size: width and height must be in 1..16384');
const fourccName = args.values.fourcc.toUpperCase();
if (!(fourccName in Fourcc)) fail(`--fourcc must be one of ${Object.keys(Fourcc).join(', ')}`);
const fps = Number(args.values.fps);
if (!(fps > 0 && fps <= 240)) fail('--fps must be in (0, 240]');

const fourcc = Fourcc[fourccName];
const bpp = bytesPerPixel(fourcc);
const stride = Math.ceil((width * bpp) / 64) * 64; // padded like real scanouts often are
const geometry = { fourcc, width, height, stride, offset: 0 };

// Writes one 8-bit-per-channel colour in the chosen format (drm_fourcc.h: little-endian words).
const encoders = {
  XRGB8888: (b, o, r, g, bl) => b.writeUInt32LE(((r << 16) | (g << 8) | bl) >>> 0, o),
  ARGB8888: (b, o, r, g, bl) => b.writeUInt32LE(((0xff << 24) | (r << 16) | (g << 8) | bl) >>> 0, o),
  XBGR8888: (b, o, r, g, bl) => b.writeUInt32LE(((bl << 16) | (g << 8) | r) >>> 0, o),
  ABGR8888: (b, o, r, g, bl) => b.writeUInt32LE(((0xff << 24) | (bl << 16) | (g << 8) | r) >>> 0, o),
  BGRX8888: (b, o, r, g, bl) => b.writeUInt32LE(((bl << 24) | (g << 16) | (r << 8)) >>> 0, o),
  RGBX8888: (b, o, r, g, bl) => b.writeUInt32LE(((r << 24) | (g << 16) | (bl << 8)) >>> 0, o),
  RGB888: (b, o, r, g, bl) => ((b[o] = bl), (b[o + 1] = g), (b[o + 2] = r)),
  BGR888: (b, o, r, g, bl) => ((b[o] = r), (b[o + 1] = g), (b[o + 2] = bl)),
  RGB565: (b, o, r, g, bl) => b.writeUInt16LE(((r >> 3) << 11) | ((g >> 2) << 5) | (bl >> 3), o),
  XRGB2101010: (b, o, r, g, bl) => b.writeUInt32LE(((r * 4 + (r >> 6)) * 2 ** 20 + (g * 4 + (g >> 6)) * 2 ** 10 + (bl * 4 + (bl >> 6))) >>> 0, o),
  XBGR2101010: (b, o, r, g, bl) => b.writeUInt32LE(((bl * 4 + (bl >> 6)) * 2 ** 20 + (g * 4 + (g >> 6)) * 2 ** 10 + (r * 4 + (r >> 6))) >>> 0, o),
};
const encode = encoders[fourccName];

// The picture is drawn as 0x00RRGGBB words, then encoded into the chosen format.
const canvas = { pixels: new Uint32Array(width * height), width, height };
const bars = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
function drawPicture(frame) {
  const { pixels } = canvas;
  const barsH = Math.floor(height * 0.6);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let c;
      if (y < barsH) c = bars[Math.floor((x * bars.length) / width)];
      else {
        const v = Math.floor((x * 255) / Math.max(1, width - 1));
        c = (v << 16) | (v << 8) | v;
      }
      pixels[y * width + x] = c;
    }
  }
  // A square bouncing across the bars: motion that is easy to follow.
  const side = Math.max(8, Math.floor(Math.min(width, height) / 8));
  const span = Math.max(1, width - side), phase = (frame * 6) % (2 * span);
  const sx = phase < span ? phase : 2 * span - phase;
  const sy = Math.floor((barsH - side) / 2);
  for (let y = Math.max(0, sy); y < Math.min(height, sy + side); y++) pixels.fill(0x202020, y * width + sx, y * width + Math.min(width, sx + side));
  drawText(canvas, 8, barsH + 8, `vgpu-vnc producer  ${fourccName} ${width}x${height}  frame ${frame}`, 0xff4040, 2);
}

const pixels = Buffer.alloc(stride * height);
function encodeFrame() {
  const src = canvas.pixels;
  for (let y = 0; y < height; y++) {
    for (let x = 0, o = y * stride, i = y * width; x < width; x++, o += bpp, i++) {
      const c = src[i];
      encode(pixels, o, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff);
    }
  }
}

const producer = new FbRegionProducer(file);
let frame = 0, last = -Infinity;
function render() {
  const now = performance.now();
  if (now - last < 1000 / fps) return null; // asked faster than --fps: the last frame stands
  last = now;
  drawPicture(frame++);
  encodeFrame();
  return { pixels, geometry };
}
try {
  producer.present(render().pixels, geometry);
} catch (err) {
  fail(`cannot write ${file}: ${err.message}`);
}
producer.serve(render, { onError: (err) => console.error(`producer: ${err.message}`) });
console.log(`producer: serving ${file} (${width}x${height} ${fourccName}, stride ${stride}); try: vgpu-vnc --device ${file}`);

const stop = () => {
  producer.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
