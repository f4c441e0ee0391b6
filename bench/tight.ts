// Tight against ZRLE on 1920×1080 frames (desktop, text, plasma, noise): bytes and ms per
// whole frame, Tight lossless, Tight + JPEG (quality level 6), TightPNG; and the cost of
// one 64×64 JPEG. Encoders are fresh per picture but warmed up once (their zlib streams
// carry over between runs, as on a real connection). Then encodeBatch against encode()
// (wall time and time on the JS thread), the gradient filter against memcpy, and gradient
// against copy filter: bytes and deflate time at zlib levels 1 and 2. And the JPEG path (q6) on
// plasma and noise: merged JPEG parts against the old 64 Ki-pixel pieces and one libjpeg call.
// `npm run bench -- tight jpeg` runs only that last part.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { SERVER_PIXEL_FORMAT } from '../src/rfb/pixel-format.js';
import { native } from '../src/native.js';
import { ENCODING_ZRLE, createEncoder, encoderOptionsFrom, TightEncoder } from '../src/rfb/encodings/index.js';
import { tightPieces } from '../src/rfb/encodings/tight.js';
import { JpegCompressor } from '../src/rfb/encodings/tight-jpeg.js';
import type { Encoder, SurfaceView } from '../src/rfb/encodings/types.js';
import { H, frame, rng, timeWholeFrame } from './lib/frames.js';


/** Wallpaper gradient, a taskbar, a window with text, a photo. */
function desktop(): SurfaceView {
  const r = rng(1);
  return frame((x, y) => {
    if (y >= H - 40) return x % 200 < 180 && y > H - 34 && y < H - 6 && (x * 3 + y) % 7 < 2 ? 0xffffff : 0x202830;
    if (x >= 1200 && x < 1700 && y >= 150 && y < 500) return (((x - 1200) * 255 / 500) << 16) | (((y - 150) * 255 / 350) << 8) | (r() & 15); // photo
    if (x >= 200 && x < 1100 && y >= 100 && y < 800) {
      if (y < 130) return 0x3050a0;
      const line = (y - 140) % 18;
      return line < 12 && x > 220 && x < 1000 && ((x >> 2) * 7 + (y >> 1)) % 5 < 2 ? 0x101010 : 0xfafafa;
    }
    return 0x3a6ea5;
  });
}

/** A terminal full of text: 2 colours, glyph-like patterns on every line. */
function text(): SurfaceView {
  return frame((x, y) => {
    const row = Math.floor(y / 16), col = Math.floor(x / 8);
    const gx = x % 8, gy = y % 16;
    const ch = (row * 131 + col * 17) % 95;
    const on = gy > 2 && gy < 13 && gx < 7 && ((ch * (gx + 3) * (gy + 1)) >> 3) % 3 === 0 && (col + row) % 11 !== 0;
    return on ? 0xd0d0d0 : 0x1e1e1e;
  });
}

function plasma(): SurfaceView {
  return frame((x, y) => {
    const v = Math.sin(x / 37) + Math.sin(y / 23) + Math.sin((x + y) / 51) + Math.sin(Math.hypot(x - 960, y - 540) / 29);
    const c = (v + 4) * 32;
    return (Math.round(128 + 127 * Math.sin(c / 20)) << 16) | (Math.round(128 + 127 * Math.sin(c / 27 + 2)) << 8) | Math.round(128 + 127 * Math.sin(c / 33 + 4));
  });
}

function noise(): SurfaceView {
  const r = rng(2);
  return frame(() => r() >>> 8);
}

export async function run(): Promise<void> {
  if (process.argv.slice(2).includes('jpeg')) {
    await jpegPath([['plasma', plasma()], ['noise', noise()]]);
    return;
  }
  const pictures: Array<[string, SurfaceView]> = [['desktop', desktop()], ['text', text()], ['plasma', plasma()], ['noise', noise()]];
  const encoders: Array<[string, () => Encoder]> = [
    ['ZRLE', () => createEncoder(ENCODING_ZRLE)!],
    ['Tight lossless', () => new TightEncoder(false)],
    ['Tight+JPEG q6', () => new TightEncoder(false, encoderOptionsFrom([-32 + 6]))],
    ['TightPNG', () => new TightEncoder(true)],
  ];
  console.log('1920x1080, whole frame as one rect, 32 bpp client; median of 5');
  for (const [pname, surface] of pictures) {
    for (const [ename, make] of encoders) {
      const { median: ms, bytes } = timeWholeFrame(make(), surface, SERVER_PIXEL_FORMAT);
      console.log(`${pname.padEnd(8)} ${ename.padEnd(15)} ${ms.toFixed(1).padStart(7)} ms  ${(bytes / 1024).toFixed(0).padStart(6)} KiB`);
    }
  }
  // Small damage (a cursor, a clock): 64×64 rects of the desktop's text window, per rect.
  for (const [ename, make] of encoders) {
    const e = make();
    const rects = Array.from({ length: 120 }, (_, i) => ({ x: 256 + (i % 12) * 64, y: 192 + Math.floor(i / 12) * 64, w: 64, h: 64 }));
    for (const r of rects) e.encode(pictures[0]![1], r, SERVER_PIXEL_FORMAT, []);
    let bytes = 0;
    const t0 = performance.now();
    for (const r of rects) {
      const out: Buffer[] = [];
      e.encode(pictures[0]![1], r, SERVER_PIXEL_FORMAT, out);
      bytes += out.reduce((n, b) => n + b.length, 0);
    }
    console.log(`64x64 text rect ${ename.padEnd(15)} ${(((performance.now() - t0) / rects.length) * 1000).toFixed(0).padStart(5)} µs  ${(bytes / rects.length).toFixed(0).padStart(5)} bytes`);
  }
  // One JPEG of a 64×64 piece of the plasma, the per-rect cost.
  const jpeg = new JpegCompressor();
  const surface = pictures[2]![1];
  const n = 2000;
  let size = 0;
  for (let i = 0; i < 100; i++) jpeg.compress(surface, { x: 64, y: 64, w: 64, h: 64 }, 79, '444');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) size = jpeg.compress(surface, { x: (i * 64) % 1856, y: 64 * (i % 16), w: 64, h: 64 }, 79, '444').length;
  console.log(`JPEG 64x64 q79 4:4:4: ${(((performance.now() - t0) / n) * 1000).toFixed(0)} µs per call, ${size} bytes`);

  await batchAgainstSync(pictures);
  gradientFilter(pictures);
  await jpegPath(pictures.filter(([n]) => n === 'plasma' || n === 'noise'));
}

interface Turbo {
  FORMAT_BGRX: number;
  SAMP_444: number;
  compress(raw: Buffer, o: { format: number; width: number; height: number; quality: number; subsampling: number }): Promise<Buffer>;
}

/**
 * Tight + JPEG quality level 6 (quality 79, 4:4:4, as noVNC and the xvnc bench ask) through
 * encodeBatch on a whole 1080p frame: JPEG areas merged into one part per core (now) against
 * the old 64 Ki-pixel pieces (mergeJpeg = false), and one libjpeg-turbo call on the whole
 * frame (the floor: what a single-threaded server pays). Interleaved in one run, median of 15:
 * wall time, process CPU (all threads), JS-thread busy time (event-loop utilisation), bytes.
 */
async function jpegPath(pictures: Array<[string, SurfaceView]>): Promise<void> {
  const turbo = createRequire(import.meta.url)('@julusian/jpeg-turbo') as Turbo;
  console.log('\nTight+JPEG q6, whole 1080p frame through encodeBatch, median of 15 (ratios against the old 64 Ki-pixel pieces and one whole-frame libjpeg call)');
  for (const [pname, surface] of pictures) {
    const merged = new TightEncoder(false, encoderOptionsFrom([-32 + 6]));
    const old = new TightEncoder(false, encoderOptionsFrom([-32 + 6]));
    old.mergeJpeg = false;
    const rect = [{ x: 0, y: 0, w: surface.width, h: surface.height }];
    const ways: Array<[string, () => Promise<number>]> = [
      ['merged', async () => (await merged.encodeBatch(surface, rect, SERVER_PIXEL_FORMAT)).flat().reduce((n, b) => n + b.length, 0)],
      ['old', async () => (await old.encodeBatch(surface, rect, SERVER_PIXEL_FORMAT)).flat().reduce((n, b) => n + b.length, 0)],
      ['one call', async () => (await turbo.compress(surface.data, { format: turbo.FORMAT_BGRX, width: surface.width, height: surface.height, quality: 79, subsampling: turbo.SAMP_444 })).length],
    ];
    const m = new Map(ways.map(([n]) => [n, { wall: [] as number[], cpu: [] as number[], js: [] as number[], bytes: 0 }]));
    for (let i = 0; i < 17; i++) {
      for (const [name, go] of ways) {
        const c0 = process.cpuUsage(), e0 = performance.eventLoopUtilization(), t0 = performance.now();
        const bytes = await go();
        const wall = performance.now() - t0, js = performance.eventLoopUtilization(e0).active, c = process.cpuUsage(c0);
        if (i < 2) continue; // warm-up
        const r = m.get(name)!;
        r.wall.push(wall); r.cpu.push((c.user + c.system) / 1000); r.js.push(js); r.bytes = bytes;
      }
    }
    const stat = (name: string) => { const r = m.get(name)!; return { wall: median(r.wall), cpu: median(r.cpu), js: median(r.js), bytes: r.bytes }; };
    const [n, o, one] = [stat('merged'), stat('old'), stat('one call')];
    for (const [name, s] of [['merged', n], ['old', o], ['one call', one]] as const)
      console.log(`${pname.padEnd(7)} ${name.padEnd(9)} wall ${s.wall.toFixed(1).padStart(5)} ms  CPU ${s.cpu.toFixed(1).padStart(5)} ms  JS thread ${s.js.toFixed(2).padStart(5)} ms  ${(s.bytes / 1024).toFixed(0).padStart(5)} KiB`);
    console.log(`${pname.padEnd(7)} merged/old: wall ${(n.wall / o.wall).toFixed(2)}x  CPU ${(n.cpu / o.cpu).toFixed(2)}x  JS ${(n.js / o.js).toFixed(2)}x  bytes ${(n.bytes / o.bytes).toFixed(2)}x;  merged/one call: wall ${(n.wall / one.wall).toFixed(2)}x  CPU ${(n.cpu / one.cpu).toFixed(2)}x  bytes ${(n.bytes / one.bytes).toFixed(2)}x`);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * encodeBatch against encode() on the same whole frame, fresh encoders warmed up once: wall
 * time, and how long the JS thread is held (the batch: until its promise is returned; sync:
 * all of it). Both in the same run, alternating.
 */
async function batchAgainstSync(pictures: Array<[string, SurfaceView]>): Promise<void> {
  console.log('\nencodeBatch vs encode(), whole 1080p frame, median of 7 (ratios batch/sync; CPU: the process\'s user+system time, all threads)');
  for (const [pname, surface] of pictures.filter(([n]) => n === 'plasma' || n === 'noise' || n === 'desktop')) {
    for (const [mode, opts] of [['lossless', []], ['JPEG q6', [-32 + 6]]] as Array<[string, number[]]>) {
      const sync = new TightEncoder(false, encoderOptionsFrom(opts));
      const batch = new TightEncoder(false, encoderOptionsFrom(opts));
      const rect = [{ x: 0, y: 0, w: surface.width, h: surface.height }];
      sync.encode(surface, rect[0]!, SERVER_PIXEL_FORMAT, []);
      await batch.encodeBatch(surface, rect, SERVER_PIXEL_FORMAT);
      const syncMs: number[] = [], batchMs: number[] = [], blockedMs: number[] = [], syncCpu: number[] = [], batchCpu: number[] = [];
      let syncBytes = 0, batchBytes = 0;
      const cpuMs = (since: NodeJS.CpuUsage): number => { const d = process.cpuUsage(since); return (d.user + d.system) / 1000; };
      for (let i = 0; i < 7; i++) {
        const out: Buffer[] = [];
        let c0 = process.cpuUsage();
        let t0 = performance.now();
        sync.encode(surface, rect[0]!, SERVER_PIXEL_FORMAT, out);
        syncMs.push(performance.now() - t0);
        syncCpu.push(cpuMs(c0));
        syncBytes = out.reduce((n, b) => n + b.length, 0);
        c0 = process.cpuUsage();
        t0 = performance.now();
        const p = batch.encodeBatch(surface, rect, SERVER_PIXEL_FORMAT);
        blockedMs.push(performance.now() - t0);
        const entries = await p;
        batchMs.push(performance.now() - t0);
        batchCpu.push(cpuMs(c0));
        batchBytes = entries.flat().reduce((n, b) => n + b.length, 0);
      }
      const s = median(syncMs), b = median(batchMs), j = median(blockedMs), sc = median(syncCpu), bc = median(batchCpu);
      console.log(`${pname.padEnd(8)} ${mode.padEnd(9)} sync ${s.toFixed(1).padStart(6)} ms  batch ${b.toFixed(1).padStart(6)} ms (${(b / s).toFixed(2)}x)  JS thread held ${j.toFixed(1).padStart(5)} ms (${(j / s).toFixed(2)}x of sync)  CPU ${(bc / sc).toFixed(2)}x  bytes ${(batchBytes / syncBytes).toFixed(3)}x`);
    }
  }
}

/**
 * The gradient filter on its own (against a memcpy of the same rows, and the copy filter),
 * then what it buys: a whole frame cut into Tight's pieces, each filtered and deflated on one
 * thread through a fresh stream per level, bytes and time with the copy and gradient filters.
 */
function gradientFilter(pictures: Array<[string, SurfaceView]>): void {
  const plasma = pictures.find(([n]) => n === 'plasma')![1];
  const whole = { src: plasma.data, stride: plasma.width * 4, x: 0, y: 0, w: plasma.width, h: plasma.height };
  const runs = 20;
  const [grad, copyRows] = native.tightFilterBench({ ...whole, filter: 2 }, runs);
  const [copy] = native.tightFilterBench({ ...whole, filter: 0 }, runs);
  console.log(`\ngradient filter, 1080p plasma: ${((grad / runs) * 1000).toFixed(2)} ms per frame = ${(grad / copyRows).toFixed(2)}x a memcpy of the rows, ${(grad / copy).toFixed(2)}x the copy filter (XRGB -> RGB)`);
  console.log('filter + deflate per 64 Ki-pixel piece, one thread (ratios gradient/copy):');
  for (const [pname, surface] of pictures) {
    if (pname === 'noise') continue; // goes stored either way
    const pieces = [...tightPieces({ x: 0, y: 0, w: surface.width, h: surface.height })];
    for (const level of [1, 2]) {
      const result: Record<string, { bytes: number; ms: number }> = {};
      for (const filter of [0, 2] as const) {
        const times: number[] = [];
        let bytes = 0;
        for (let run = 0; run < 5; run++) {
          const z = new native.ZStream(level, Infinity);
          bytes = 0;
          const t0 = performance.now();
          for (const p of pieces) bytes += z.deflate(native.tightFilter({ src: surface.data, stride: surface.width * 4, ...p, filter })).length;
          times.push(performance.now() - t0);
        }
        result[filter] = { bytes, ms: median(times) };
      }
      const c = result[0]!, g = result[2]!;
      console.log(`${pname.padEnd(8)} zlib ${level}: copy ${(c.bytes / 1024).toFixed(0).padStart(5)} KiB ${c.ms.toFixed(1).padStart(6)} ms   gradient ${(g.bytes / 1024).toFixed(0).padStart(5)} KiB ${g.ms.toFixed(1).padStart(6)} ms   bytes ${(g.bytes / c.bytes).toFixed(2)}x  time ${(g.ms / c.ms).toFixed(2)}x`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
