// Native Raw and ZRLE against the TypeScript encoders they replace, on 1080p frames of the
// xvnc benchmark's contents (plasma: smooth full-screen motion; desktop), in one run so the
// ratios compare like with like.
// ZRLE: "JS" = ZrleTileEncoder (TS tiles) + the same ZStream's sync deflate (the old
// encode()); "native sync" = zrleEncodeSync (blocks the JS thread, both cores); "native batch"
// = await zrleEncode (off the JS thread; wall time, and how long the call held the JS thread,
// median).
// Raw: JS translateRect (the old encode()) vs native rawEncode vs a plain memcpy of the frame.
// Rects: the whole frame as one rect, and the frame as 64-row bands split in 4 (136 rects).
import { performance } from 'node:perf_hooks';
import { native } from '../src/native.js';
import { SERVER_PIXEL_FORMAT, type PixelFormat } from '../src/rfb/pixel-format.js';
import { RawEncoder } from '../src/rfb/encodings/raw.js';
import { ZrleTileEncoder } from '../src/rfb/encodings/zrle.js';
import type { Rect, SurfaceView } from '../src/rfb/encodings/types.js';
import { HEIGHT, WIDTH, frameCount, renderer, type Content } from './xvnc/frames.js';

const RGB565: PixelFormat = { ...SERVER_PIXEL_FORMAT, bitsPerPixel: 16, depth: 16, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 };

function content(name: Content, i = 17): SurfaceView {
  const pixels = new Uint32Array(WIDTH * HEIGHT);
  renderer(name, frameCount(name))(i, { pixels, width: WIDTH, height: HEIGHT });
  return { data: Buffer.from(pixels.buffer), width: WIDTH, height: HEIGHT };
}

const WHOLE: Rect[] = [{ x: 0, y: 0, w: WIDTH, h: HEIGHT }];
const BANDS: Rect[] = [];
for (let y = 0; y < HEIGHT; y += 64) for (let x = 0; x < WIDTH; x += WIDTH / 4) BANDS.push({ x, y, w: WIDTH / 4, h: Math.min(64, HEIGHT - y) });

/**
 * Median wall ms of `runs` calls after three warm-ups, the mean CPU ms per call (every thread of
 * the process: steadier than wall time on a busy machine), and `bytes` from the last.
 */
async function time(runs: number, fn: () => number | Promise<number>): Promise<{ ms: number; cpu: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < 3; i++) bytes = await fn(); // warm-up (and the buffer pool filled)
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    bytes = await fn();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  return { ms: times[runs >> 1]!, cpu: (cpu.user + cpu.system) / 1000 / runs, bytes };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const fmt = (t: { ms: number; cpu: number }) => `${t.ms.toFixed(1).padStart(6)} ms (cpu ${t.cpu.toFixed(1).padStart(5)})`;
const kib = (n: number) => `${(n / 1024).toFixed(0).padStart(5)} KiB`;

async function zrle(name: string, surface: SurfaceView, rects: Rect[], pf: PixelFormat): Promise<void> {
  const tiles = new ZrleTileEncoder();
  const jsStream = new native.ZStream(6), syncStream = new native.ZStream(6), batchStream = new native.ZStream(6);
  const js = await time(7, () => {
    let n = 0;
    for (const r of rects) n += 16 + jsStream.deflate(tiles.encodeTiles(surface, r, pf)).length;
    return n;
  });
  const sync = await time(7, () => native.zrleEncodeSync(syncStream, surface, rects, pf).length);
  const helds: number[] = [];
  const batch = await time(7, async () => {
    const t0 = performance.now();
    const p = native.zrleEncode(batchStream, surface, rects, pf);
    helds.push(performance.now() - t0);
    return (await p).length;
  });
  console.log(
    `ZRLE ${name.padEnd(30)} JS ${fmt(js)} ${kib(js.bytes)} | native sync ${fmt(sync)} ${kib(sync.bytes)} ×${(js.ms / sync.ms).toFixed(1)} cpu ×${(js.cpu / sync.cpu).toFixed(1)} | ` +
      `native batch ${fmt(batch)} ×${(js.ms / batch.ms).toFixed(1)} cpu ×${(js.cpu / batch.cpu).toFixed(1)} (JS thread ${median(helds).toFixed(2)} ms)`,
  );
}

async function raw(name: string, surface: SurfaceView, rects: Rect[], pf: PixelFormat): Promise<void> {
  const encoder = new RawEncoder();
  const js = await time(15, () => {
    const out: Buffer[] = [];
    for (const r of rects) encoder.encode(surface, r, pf, out);
    return out.reduce((n, b) => n + b.length, 0);
  });
  const helds: number[] = [];
  const batch = await time(15, async () => {
    const t0 = performance.now();
    const p = native.rawEncode(surface, rects, pf);
    helds.push(performance.now() - t0);
    return (await p).length;
  });
  const dst = Buffer.alloc(surface.data.length);
  const memcpy = await time(15, () => surface.data.copy(dst));
  console.log(
    `Raw  ${name.padEnd(30)} JS ${fmt(js)} | native batch ${fmt(batch)} ×${(js.ms / batch.ms).toFixed(1)} cpu ×${(js.cpu / batch.cpu).toFixed(1)} (JS thread ${median(helds).toFixed(2)} ms) | ` +
      `memcpy of the frame ${fmt(memcpy)}: native = ${(batch.ms / memcpy.ms).toFixed(1)}× memcpy`,
  );
}

export async function run(): Promise<void> {
  const frames: Array<[string, SurfaceView]> = [['plasma', content('plasma')], ['desktop', content('desktop')]];
  for (const [fname, surface] of frames) {
    await zrle(`${fname} whole frame`, surface, WHOLE, SERVER_PIXEL_FORMAT);
    await zrle(`${fname} ${BANDS.length} rects`, surface, BANDS, SERVER_PIXEL_FORMAT);
    await zrle(`${fname} whole frame RGB565`, surface, WHOLE, RGB565);
  }
  for (const [fname, surface] of frames.slice(0, 1)) {
    await raw(`${fname} whole frame`, surface, WHOLE, SERVER_PIXEL_FORMAT);
    await raw(`${fname} ${BANDS.length} rects`, surface, BANDS, SERVER_PIXEL_FORMAT);
    await raw(`${fname} whole frame RGB565`, surface, WHOLE, RGB565);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
