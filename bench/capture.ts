// Capture benchmark: convert + compare + shadow update for every supported
// fourcc at 1080p and 2160p, against a plain memcpy of the same source bytes
// measured in the same run. Files live in /dev/shm (page-cache memory, like a
// mapped device region). Then (or alone: `npm run bench -- capture sigs`) the
// non-full pass with and without source signatures, caches cold.
import { rmSync, writeFileSync } from 'node:fs';
import { native, type CaptureHistory, type PlaneGeometry, type SourceSigs } from '../src/native.js';
import { Fourcc, bytesPerPixel, type FourccName } from '../src/surface/fourcc.js';
import { xorshift } from '../test/helpers/random.js'; // a fixed sequence for a fixed seed

const SIZES: [number, number][] = [
  [1920, 1080],
  [3840, 2160],
];
const TILE = 64;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timeMs(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Two frames whose every pixel differs (frame 1 = frame 0 with every byte inverted). */
function writeFrames(path: string, frameBytes: number): void {
  const data = Buffer.alloc(frameBytes * 2);
  const next = xorshift(0x9e3779b9);
  for (let i = 0; i < frameBytes; i++) {
    const s = next();
    data[i] = s & 0xff;
    data[frameBytes + i] = ~s & 0xff;
  }
  writeFileSync(path, data);
}

interface Row {
  size: string;
  format: string;
  changed: number;
  unchanged: number;
  memcpy: number;
}

function benchOne(width: number, height: number, name: FourccName, runs: number): Row {
  const fourcc = Fourcc[name];
  const bpp = bytesPerPixel(fourcc)!;
  const frameBytes = width * height * bpp;
  const path = `/dev/shm/vgpu-vnc-bench-${process.pid}.bin`;
  writeFrames(path, frameBytes);
  const mapping = new native.Mapping(path);
  try {
    const plane = (frame: number): PlaneGeometry => ({ fourcc, width, height, stride: width * bpp, offset: frame * frameBytes });
    const surface = Buffer.alloc(width * height * 4);
    const copy = Buffer.alloc(frameBytes);
    const changed: number[] = [];
    const unchanged: number[] = [];
    const memcpy: number[] = [];
    // Warm up: fault in every page of both frames and the buffers.
    native.captureSync(mapping, plane(1), surface, TILE, true);
    native.memcpyBench(copy, mapping, 0, frameBytes);
    for (let i = 0; i < runs; i++) {
      const frame = i % 2; // alternate frames: every pixel differs from the surface
      changed.push(timeMs(() => native.captureSync(mapping, plane(frame), surface, TILE, false)));
      unchanged.push(timeMs(() => native.captureSync(mapping, plane(frame), surface, TILE, false)));
      memcpy.push(timeMs(() => native.memcpyBench(copy, mapping, frame * frameBytes, frameBytes)));
    }
    return { size: `${width}x${height}`, format: name, changed: median(changed), unchanged: median(unchanged), memcpy: median(memcpy) };
  } finally {
    mapping.close();
    rmSync(path, { force: true });
  }
}

/** CAPTURE_FOURCCS=XRGB8888,RGB565 limits the run to those formats (quick comparisons). */
function formats(): FourccName[] {
  const all = Object.keys(Fourcc) as FourccName[];
  const only = process.env.CAPTURE_FOURCCS?.split(',');
  return only ? all.filter((n) => only.includes(n)) : all;
}

export async function run(): Promise<void> {
  if (!process.argv.slice(2).includes('sigs')) runWarm();
  runSigs();
}

function runWarm(): void {
  console.log(`capture (tile ${TILE}, captureSync, one thread) vs memcpy of the source bytes; median ms`);
  const header = ['size', 'fourcc', 'changed', 'unchanged', 'memcpy', 'changed/memcpy', 'unchanged/memcpy'];
  const widths = [9, 12, 9, 10, 8, 15, 17];
  const line = (cells: string[]) => console.log(cells.map((c, i) => c.padStart(widths[i])).join(' '));
  line(header);
  for (const [width, height] of SIZES) {
    const runs = width * height > 4_000_000 ? 11 : 21;
    for (const name of formats()) {
      const r = benchOne(width, height, name, runs);
      line([
        r.size,
        r.format,
        r.changed.toFixed(2),
        r.unchanged.toFixed(2),
        r.memcpy.toFixed(2),
        (r.changed / r.memcpy).toFixed(2),
        (r.unchanged / r.memcpy).toFixed(2),
      ]);
    }
  }
}

// ---- Source signatures, caches cold ----
// In the server the source was just written by the guest and the surface was last touched a
// frame ago: both come from DRAM. Every timed call here (memcpy too) follows a read of
// EVICT_BYTES elsewhere, which pushes both out of the caches.

const EVICT_BYTES = 64 << 20;
const evictHalves = [Buffer.alloc(EVICT_BYTES / 2), Buffer.alloc(EVICT_BYTES / 2)] as const;

/** Reads EVICT_BYTES (memcmp of two equal buffers: plain loads; a fill would use non-temporal stores and evict nothing). */
function evict(): void {
  if (evictHalves[0].compare(evictHalves[1]) !== 0) throw new Error('evict buffers differ');
}
const SIG_TILE = 32; // the server's tile size
const OLD_ROW_STEP = 8; // as captured-display.ts keeps them

interface Change {
  name: string;
  /** The area that differs between frames 0 and 1; undefined: nothing (frame 0 again and again); 'all': every pixel. */
  area?: { x: number; y: number; w: number; h: number } | 'all';
}

const CHANGES: Change[] = [
  { name: 'unchanged' },
  { name: 'clock 96x24', area: { x: 1780, y: 1040, w: 96, h: 24 } },
  { name: 'area 64x64', area: { x: 700, y: 500, w: 64, h: 64 } },
  { name: 'every pixel', area: 'all' },
];

interface Mode {
  name: string;
  segmentWidth?: number;
  /** With the scroll history the server passes on a detecting capture (segment hashes + old rows). */
  history: boolean;
}

function sigModes(): Mode[] {
  const widths = (process.env.CAPTURE_SIG_SEGMENTS ?? '64,128,256').split(',').map(Number);
  return [
    { name: 'no sigs', history: false },
    ...widths.map((w) => ({ name: `sigs ${w}`, segmentWidth: w, history: false })),
    { name: 'no sigs+hist', history: true },
    ...widths.map((w) => ({ name: `sigs ${w}+hist`, segmentWidth: w, history: true })),
  ];
}

/** Frame 0 random; frame 1 = frame 0 with `area` inverted. */
function writeChangeFrames(path: string, width: number, height: number, bpp: number, change: Change): void {
  const frameBytes = width * height * bpp;
  const data = Buffer.alloc(frameBytes * 2);
  const next = xorshift(0x2545f491);
  for (let i = 0; i < frameBytes; i++) data[i] = next() & 0xff;
  data.copy(data, frameBytes, 0, frameBytes);
  const area = change.area === 'all' ? { x: 0, y: 0, w: width, h: height } : change.area;
  if (area) {
    for (let y = area.y; y < area.y + area.h; y++) {
      for (let i = (y * width + area.x) * bpp; i < (y * width + area.x + area.w) * bpp; i++) data[frameBytes + i] = ~data[i]! & 0xff;
    }
  }
  writeFileSync(path, data);
}

interface SigRow {
  change: string;
  memcpy: number;
  modes: number[];
}

function benchSigs(width: number, height: number, name: FourccName, change: Change, modes: Mode[], runs: number): SigRow {
  const fourcc = Fourcc[name];
  const bpp = bytesPerPixel(fourcc)!;
  const frameBytes = width * height * bpp;
  const path = `/dev/shm/vgpu-vnc-bench-sigs-${process.pid}.bin`;
  writeChangeFrames(path, width, height, bpp, change);
  const mapping = new native.Mapping(path);
  const coldMs = (fn: () => void) => {
    evict();
    return timeMs(fn);
  };
  try {
    const plane = (frame: number): PlaneGeometry => ({ fourcc, width, height, stride: width * bpp, offset: frame * frameBytes });
    const tilesX = Math.ceil(width / SIG_TILE);
    // Per mode: its own surface, signatures and history, so that every capture finds what its
    // previous one left.
    const states = modes.map((mode) => {
      const surface = Buffer.alloc(width * height * 4);
      const sigs: SourceSigs | undefined = mode.segmentWidth
        ? { sigs: Buffer.alloc(height * Math.ceil(width / mode.segmentWidth) * 8), segmentWidth: mode.segmentWidth }
        : undefined;
      const history: CaptureHistory | undefined = mode.history
        ? { segmentHashes: Buffer.alloc(height * tilesX * 8), oldRows: Buffer.alloc(Math.ceil(height / OLD_ROW_STEP) * width * 4), oldRowStep: OLD_ROW_STEP }
        : undefined;
      native.captureSync(mapping, plane(0), surface, SIG_TILE, true, undefined, history, sigs);
      return { surface, sigs, history, times: [] as number[] };
    });
    const copy = Buffer.alloc(frameBytes);
    const memcpy: number[] = [];
    for (let i = 0; i < runs; i++) {
      const frame = change.area ? (i + 1) % 2 : 0;
      for (const state of states) {
        state.times.push(coldMs(() => native.captureSync(mapping, plane(frame), state.surface, SIG_TILE, false, undefined, state.history, state.sigs)));
      }
      memcpy.push(coldMs(() => native.memcpyBench(copy, mapping, frame * frameBytes, frameBytes)));
    }
    // Every mode must have ended with the same picture (the last frame converted).
    for (const state of states) {
      if (!state.surface.equals(states[0]!.surface)) throw new Error(`${name} ${change.name}: surfaces differ between modes`);
    }
    return { change: change.name, memcpy: median(memcpy), modes: states.map((s) => median(s.times)) };
  } finally {
    mapping.close();
    rmSync(path, { force: true });
  }
}

function runSigs(): void {
  const modes = sigModes();
  const names = (process.env.CAPTURE_FOURCCS?.split(',') ?? ['XRGB8888', 'RGB565']) as FourccName[];
  const runs = Number(process.env.CAPTURE_SIG_RUNS ?? 15);
  console.log(`non-full capture (tile ${SIG_TILE}), caches cold, source signatures per segment of N px; median time / cold memcpy of the source in the same run (${runs} runs)`);
  console.log('  +hist: with the scroll history of a detecting capture (segment hashes of dirty tiles, every 8th row kept)');
  const widths = [12, 9, 14, ...modes.map((m) => Math.max(9, m.name.length))];
  const line = (cells: string[]) => console.log(cells.map((c, i) => c.padStart(widths[i]!)).join(' '));
  for (const [width, height] of SIZES) {
    for (const name of names) {
      console.log(`${width}x${height} ${name}`);
      line(['change', 'memcpy ms', '', ...modes.map((m) => m.name)]);
      for (const change of CHANGES) {
        const area = typeof change.area === 'object' ? { ...change.area, x: Math.min(change.area.x, width - change.area.w), y: Math.min(change.area.y, height - change.area.h) } : change.area;
        const r = benchSigs(width, height, name, { ...change, area }, modes, runs);
        line([r.change, r.memcpy.toFixed(2), 'x memcpy', ...r.modes.map((t) => (t / r.memcpy).toFixed(2))]);
      }
    }
  }
}
