// Hostile producer: the real server path (FbRegionSource → CapturedDisplay → VncListener) in
// this process, a hostile guest in a worker thread changing its plane `changes` times, two
// decoding observers connected throughout. Afterwards the picture of the last valid mode
// must reach the observers and a real client (libvncclient) exactly.
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FbRegionSource } from '../../src/source/fbregion.js';
import { CapturedDisplay } from '../../src/surface/captured-display.js';
import { VncListener } from '../../src/server/listener.js';
import { BGR32, Observer, RAW, ZRLE } from '../fuzz/observer.js';
import { repoRoot } from '../fuzz/cli.js';
import type { RgbImage } from '../helpers/image.js';

export interface HostileOptions {
  changes: number;
  seed?: number;
  /** Also check the final picture with a real client (needs test/setup.sh's vncgrab). */
  realClient?: (port: number, width: number, height: number) => Promise<RgbImage>;
}

export interface HostileResult {
  changes: number;
  seconds: number;
  actions: Record<string, number>;
  crashes: number;
  logLines: number;
  /** Log lines that are not one clear line (multi-line, stack traces, internal errors). */
  badLogLines: string[];
  sigbusLogged: number;
  noSignalLogged: number;
  /** Distinct producer problems the server logged (numbers replaced by #). */
  problems: string[];
  observerResizes: number;
  observersExact: boolean;
  realClientExact: boolean | undefined;
  final: { format: string; width: number; height: number; stride: number; offset: number };
  failures: string[];
}

interface FinalMode {
  format: string;
  width: number;
  height: number;
  stride: number;
  offset: number;
  seed: number;
}

const patternByte = (x: number, y: number, c: number, seed: number) => (x * 7 + y * 13 + c * 61 + seed * 29) & 0xff;

/** The picture a final mode shows, from drm_fourcc.h byte orders (little-endian words). */
export function expectedPicture(m: FinalMode): RgbImage {
  const rgb = Buffer.alloc(m.width * m.height * 3);
  // Byte index of R, G, B inside a pixel.
  const order: Record<string, [number, number, number]> = { XR24: [2, 1, 0], RG24: [2, 1, 0], XB24: [0, 1, 2], BG24: [0, 1, 2] };
  const [ri, gi, bi] = order[m.format]!;
  for (let y = 0; y < m.height; y++)
    for (let x = 0; x < m.width; x++) {
      const o = (y * m.width + x) * 3;
      rgb[o] = patternByte(x, y, ri, m.seed);
      rgb[o + 1] = patternByte(x, y, gi, m.seed);
      rgb[o + 2] = patternByte(x, y, bi, m.seed);
    }
  return { width: m.width, height: m.height, rgb };
}

export async function runHostile(opts: HostileOptions): Promise<HostileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-hostile-'));
  const path = join(dir, 'fb');
  const log: string[] = [];
  const logger = (line: string) => log.push(line);
  const failures: string[] = [];
  let crashes = 0;
  const onCrash = (err: unknown) => {
    crashes++;
    failures.push(`crash: ${err instanceof Error ? err.stack : String(err)}`);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const started = performance.now();

  const control = new SharedArrayBuffer(8);
  const stop = new Int32Array(control);
  const worker = new Worker(join(repoRoot(), 'test/reliability/hostile-producer.mjs'), {
    workerData: { path, changes: opts.changes, seed: opts.seed ?? 1, control },
  });
  const finalMsg = new Promise<{ final: FinalMode; counts: Record<string, number> }>((resolve, reject) => {
    worker.on('message', (m: { kind: string; final?: FinalMode; counts?: Record<string, number> }) => {
      if (m.kind === 'final') resolve({ final: m.final!, counts: m.counts! });
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`hostile producer exited (${code}) before its final mode`)));
  });

  const source = FbRegionSource.open(path, { log: logger });
  const display = new CapturedDisplay(source, { name: 'hostile guest', maxFps: 60, log: logger });
  await display.start();
  const listener = new VncListener(display, { host: '127.0.0.1', port: 0, viewOnly: true, log: logger });
  const { port } = await listener.listen();
  const observers = [await Observer.start(port, RAW), await Observer.start(port, ZRLE, BGR32)];

  let result: HostileResult | undefined;
  try {
    const { final, counts } = await finalMsg;
    const expected = expectedPicture(final);
    let observersExact = true;
    for (const o of observers) {
      try {
        await o.waitForMatch(expected, 20_000);
      } catch (err) {
        observersExact = false;
        failures.push((err as Error).message);
      }
    }
    let realClientExact: boolean | undefined;
    if (opts.realClient) {
      try {
        const img = await opts.realClient(port, final.width, final.height);
        realClientExact = img.width === expected.width && img.height === expected.height && img.rgb.equals(expected.rgb);
        if (!realClientExact) failures.push(`real client saw ${img.width}x${img.height}, not the final ${final.width}x${final.height} picture`);
      } catch (err) {
        realClientExact = false;
        failures.push(`real client: ${(err as Error).message}`);
      }
    }
    for (const o of observers) if (o.closed || o.error) failures.push(`observer ${o.encoding}: ${o.error ?? 'disconnected'}`);
    const badLogLines = log.filter((l) => /\n|internal error|    at /.test(l));
    const problems = [...new Set(log.filter((l) => /^fbregion |^display: no signal/.test(l)).map((l) => l.replace(/^fbregion \S+: /, '').replace(/\d+/g, '#')))];
    result = {
      changes: opts.changes,
      seconds: (performance.now() - started) / 1000,
      actions: counts,
      crashes,
      logLines: log.length,
      badLogLines,
      sigbusLogged: log.filter((l) => /SIGBUS|bus error/.test(l)).length,
      noSignalLogged: log.filter((l) => /no signal/.test(l)).length,
      problems,
      observerResizes: observers.reduce((s, o) => s + o.resizes, 0),
      observersExact,
      realClientExact,
      final: { format: final.format, width: final.width, height: final.height, stride: final.stride, offset: final.offset },
      failures,
    };
  } finally {
    Atomics.store(stop, 0, 1);
    Atomics.notify(stop, 1);
    await worker.terminate();
    for (const o of observers) o.close();
    await listener.close();
    await display.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
  return result;
}
