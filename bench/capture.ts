// Capture benchmark: convert + compare + shadow update for every supported
// fourcc at 1080p and 2160p, against a plain memcpy of the same source bytes
// measured in the same run. Files live in /dev/shm (page-cache memory, like a
// mapped device region).
import { rmSync, writeFileSync } from 'node:fs';
import { native, type PlaneGeometry } from '../src/native.js';
import { Fourcc, bytesPerPixel, type FourccName } from '../src/surface/fourcc.js';

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
  let s = 0x9e3779b9;
  for (let i = 0; i < frameBytes; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
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
