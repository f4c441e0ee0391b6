// FbRegionSource against a real producer on a real file, read through the native mapping.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { native, type NativeMapping } from '../../src/native.js';
import { startDemo } from '../../src/source/demo.js';
import { FbRegionSource, validateTrailer, type Trailer } from '../../src/source/fbregion.js';
import type { Frame } from '../../src/source/types.js';
import type { TrailerFields } from '../../src/source/fbregion-producer.js';
import { Fourcc, bytesPerPixel } from '../../src/surface/fourcc.js';
import { TestProducer, makeImage, type TestImage } from '../helpers/test-producer.js';

const TIMEOUT_MS = 40;
let producer: TestProducer | undefined;
let source: FbRegionSource | undefined;

afterEach(async () => {
  await source?.close();
  producer?.close();
  source = producer = undefined;
});

function start(image: TestImage, mapFile?: (path: string) => NativeMapping): { lines: string[] } {
  const lines: string[] = [];
  producer = TestProducer.start(image);
  source = new FbRegionSource(producer.path, { log: (l) => lines.push(l), answerTimeoutMs: TIMEOUT_MS, openMapping: mapFile });
  return { lines };
}

function plane(frame: Frame): Extract<Frame, { kind: 'plane' }> {
  if (frame.kind !== 'plane') throw new Error(`expected a plane, got no-signal: ${frame.reason}`);
  return frame;
}

/** What the canonical surface must hold for an image: bytes B,G,R,0 per pixel, rows packed. */
function expectedSurface(image: TestImage): Buffer {
  const { width, height, stride, fourcc } = image.geometry;
  const bpp = bytesPerPixel(fourcc)!;
  const out = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = y * stride + x * bpp, d = (y * width + x) * 4;
      const p = image.pixels;
      if (fourcc === Fourcc.XRGB8888 || fourcc === Fourcc.RGB888) [out[d], out[d + 1], out[d + 2]] = [p[s], p[s + 1], p[s + 2]];
      else if (fourcc === Fourcc.BGR888) [out[d], out[d + 1], out[d + 2]] = [p[s + 2], p[s + 1], p[s]];
      else throw new Error('test helper: add this fourcc');
    }
  }
  return out;
}

function captureBytes(frame: Frame): Buffer {
  const { mapping, plane: p } = plane(frame);
  const surface = Buffer.alloc(p.width * p.height * 4);
  native.captureSync(mapping, p, surface, 64, true);
  return surface;
}

describe('FbRegionSource with a well-behaved producer', () => {
  it('hands over a plane whose captured pixels are exactly the ones written (padded stride, offset)', async () => {
    const image = makeImage(130, 70, { stride: 130 * 4 + 24, offset: 4096 });
    start(image);
    const frame = plane(await source!.nextFrame());
    expect(frame.plane).toEqual(image.geometry);
    expect(captureBytes(frame).equals(expectedSurface(image))).toBe(true);
  });

  it.each([
    ['RGB888', Fourcc.RGB888],
    ['BGR888', Fourcc.BGR888],
  ])('converts %s pixels into the canonical surface', async (_name, fourcc) => {
    const image = makeImage(33, 17, { fourcc, stride: 33 * 3 + 5 });
    start(image);
    expect(captureBytes(await source!.nextFrame()).equals(expectedSurface(image))).toBe(true);
  });

  it('sees a mode change, including a file that had to grow', async () => {
    const { lines } = start(makeImage(64, 48));
    plane(await source!.nextFrame());
    const bigger = makeImage(640, 480, { seed: 9 });
    producer!.setImage(bigger);
    const frame = plane(await source!.nextFrame());
    expect(frame.plane).toEqual(bigger.geometry);
    expect(captureBytes(frame).equals(expectedSurface(bigger))).toBe(true);
    expect(lines.filter((l) => l.includes('640x480'))).toHaveLength(1);
  });

  it('shows new pixels of the same mode on the next request', async () => {
    start(makeImage(50, 40, { seed: 1 }));
    const first = captureBytes(await source!.nextFrame());
    const next = makeImage(50, 40, { seed: 2 });
    producer!.setImage(next);
    const second = captureBytes(await source!.nextFrame());
    expect(second.equals(first)).toBe(false);
    expect(second.equals(expectedSurface(next))).toBe(true);
  });
});

describe('FbRegionSource with a producer that does not answer', () => {
  it('resolves with the last good frame and logs once over several ticks, then logs recovery', async () => {
    const image = makeImage(40, 30);
    const { lines } = start(image);
    plane(await source!.nextFrame());
    producer!.behave({ kind: 'silent' });
    for (let i = 0; i < 4; i++) {
      const frame = plane(await source!.nextFrame());
      expect(frame.plane).toEqual(image.geometry);
      expect(captureBytes(frame).equals(expectedSurface(image))).toBe(true);
    }
    expect(lines.filter((l) => /did not answer within \d+ ms; showing the last good frame/.test(l))).toHaveLength(1);
    producer!.behave({ kind: 'normal' });
    plane(await source!.nextFrame());
    expect(lines.filter((l) => l.includes('answers again'))).toHaveLength(1);
  });

  it('does not flap in the log when the producer is late now and then', async () => {
    const image = makeImage(40, 30);
    const { lines } = start(image);
    plane(await source!.nextFrame());
    for (let round = 0; round < 3; round++) {
      producer!.behave({ kind: 'silent' });
      plane(await source!.nextFrame());
      producer!.behave({ kind: 'normal' });
      plane(await source!.nextFrame());
    }
    // The first lapse and its recovery are logged; the next two lapses (within a minute) are not.
    expect(lines.filter((l) => /did not answer/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('answers again'))).toHaveLength(1);
  });

  it('gives no-signal with a reason when there never was a good frame', async () => {
    const { lines } = start(makeImage(40, 30));
    producer!.behave({ kind: 'silent' });
    for (let i = 0; i < 3; i++) {
      const frame = await source!.nextFrame();
      expect(frame).toEqual({ kind: 'no-signal', reason: expect.stringMatching(/did not answer/) });
    }
    expect(lines).toHaveLength(1);
  });
});

describe('FbRegionSource with nonsense trailers', () => {
  const w = 64, h = 32;
  const cases: [string, Partial<TrailerFields>, RegExp][] = [
    ['argsz 0', { argsz: 0 }, /argsz is 0/],
    ['argsz 64', { argsz: 64 }, /argsz is 64/],
    ['format 0', { fourcc: 0 }, /no frame \(format 0\)/],
    ['unknown format', { fourcc: 0x20202020 }, /unsupported pixel format/],
    ['width 0', { width: 0 }, /width 0 is outside/],
    ['width 16385', { width: 16385 }, /width 16385 is outside/],
    ['height 0', { height: 0 }, /height 0 is outside/],
    ['height 2^32-1', { height: 0xffffffff }, /height 4294967295 is outside/],
    ['stride below width×4', { stride: w * 4 - 1 }, /stride 255 is less than/],
    ['pixels over the trailer', { offset: 0xfffff000 }, /past the trailer/],
    ['huge stride', { stride: 0xffffffff }, /past the trailer/],
    ['height past the file', { height: 16384 }, /past the trailer/],
  ];

  it.each(cases)('%s → no-signal with a clear reason when nothing good came before', async (_n, fields, reason) => {
    const { lines } = start(makeImage(w, h));
    producer!.behave({ kind: 'nonsense', fields });
    const frame = await source!.nextFrame();
    expect(frame).toEqual({ kind: 'no-signal', reason: expect.stringMatching(reason) });
    await source!.nextFrame();
    expect(lines).toEqual([expect.stringMatching(reason)]);
  });

  it.each(cases)('%s → the last good frame, one log line', async (_n, fields, reason) => {
    const image = makeImage(w, h);
    const { lines } = start(image);
    plane(await source!.nextFrame());
    producer!.behave({ kind: 'nonsense', fields });
    for (let i = 0; i < 3; i++) expect(plane(await source!.nextFrame()).plane).toEqual(image.geometry);
    expect(lines.filter((l) => reason.test(l))).toHaveLength(1);
  });

  it('logs again when the problem changes', async () => {
    const { lines } = start(makeImage(w, h));
    producer!.behave({ kind: 'nonsense', fields: { width: 0 } });
    await source!.nextFrame();
    producer!.behave({ kind: 'nonsense', fields: { fourcc: 0x20202020 } });
    await source!.nextFrame();
    await source!.nextFrame();
    expect(lines).toHaveLength(2);
  });
});

describe('FbRegionSource with a file that changes under it', () => {
  it('survives truncation (no-signal with a reason) and recovers when the producer rewrites the file', async () => {
    const image = makeImage(100, 60);
    start(image);
    plane(await source!.nextFrame());
    producer!.behave({ kind: 'silent' });
    producer!.truncate(0);
    expect(await source!.nextFrame()).toEqual({ kind: 'no-signal', reason: expect.stringMatching(/0 bytes, too small/) });
    producer!.truncate(4096); // a trailer of zeros, far too small for the last frame
    expect(await source!.nextFrame()).toEqual({ kind: 'no-signal', reason: expect.stringMatching(/did not answer/) });
    producer!.rewrite();
    producer!.behave({ kind: 'normal' });
    const frame = plane(await source!.nextFrame());
    expect(captureBytes(frame).equals(expectedSurface(image))).toBe(true);
  });

  it('treats a fault while reading (SIGBUS) as no-signal and maps again on the next tick', async () => {
    let fail = false;
    let opened = 0;
    const faulty = (path: string): NativeMapping => {
      opened++;
      const real = new native.Mapping(path);
      return new Proxy(real, {
        get(target, prop) {
          if (prop === 'readU32' && fail) {
            return () => {
              fail = false;
              throw Object.assign(new Error('bus error'), { code: 'SIGBUS' });
            };
          }
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    };
    const image = makeImage(20, 10);
    const { lines } = start(image, faulty);
    plane(await source!.nextFrame());
    fail = true;
    expect(await source!.nextFrame()).toEqual({ kind: 'no-signal', reason: expect.stringMatching(/SIGBUS/) });
    expect(plane(await source!.nextFrame()).plane).toEqual(image.geometry);
    expect(opened).toBe(2);
    expect(lines.some((l) => l.includes('SIGBUS'))).toBe(true);
  });

  it('reports a missing file without throwing', async () => {
    const lines: string[] = [];
    source = new FbRegionSource('/nonexistent/vgpu-vnc-fb', { log: (l) => lines.push(l), answerTimeoutMs: TIMEOUT_MS });
    expect(await source.nextFrame()).toEqual({ kind: 'no-signal', reason: 'the file does not exist' });
    expect(lines).toHaveLength(1);
  });

  it('answers no-signal after close', async () => {
    start(makeImage(8, 8));
    await source!.close();
    expect((await source!.nextFrame()).kind).toBe('no-signal');
  });
});

describe('validateTrailer', () => {
  const good: Trailer = { argsz: 28, format: Fourcc.XRGB8888, offset: 0, width: 100, height: 50, stride: 400, state: 2 };
  it('accepts a frame that ends exactly where the trailer starts', () => {
    expect(validateTrailer(good, 400 * 50 + 28).ok).toBe(true);
    expect(validateTrailer(good, 400 * 50 + 27).ok).toBe(false);
  });
  it('stays exact with the largest u32 values', () => {
    const worst = { ...good, offset: 0xffffffff, stride: 0xffffffff, width: 16384, height: 16384 };
    const r = validateTrailer(worst, 2 ** 52);
    expect(r.ok).toBe(true);
    const need = 0xffffffff + 0xffffffff * 16383 + 16384 * 4 + 28;
    expect(validateTrailer(worst, need - 1).ok).toBe(false);
    expect(validateTrailer(worst, need).ok).toBe(true);
  });
});

// startDemo needs the compiled guest (a worker cannot load .ts): `npm test` builds first.
const guestBuilt = existsSync(new URL('../../dist/src/source/demo-guest.js', import.meta.url));
describe.skipIf(!guestBuilt)('startDemo', () => {
  it('serves the rendered desktop through the fbregion source, and cleans up', async () => {
    const lines: string[] = [];
    const demo = await startDemo({ width: 320, height: 200, log: (l) => lines.push(l) });
    try {
      const frame = plane(await demo.source.nextFrame());
      expect(frame.plane).toEqual({ fourcc: Fourcc.XRGB8888, width: 320, height: 200, stride: 1280, offset: 0 });
      const surface = captureBytes(frame);
      const colours = new Set<number>();
      for (let i = 0; i < 320 * 200; i++) colours.add(surface.readUInt32LE(i * 4));
      expect(colours.size).toBeGreaterThan(20);
    } finally {
      await demo.stop();
    }
    expect(existsSync(demo.path)).toBe(false);
  });

  it('refuses a nonsense size with a clear message', async () => {
    await expect(startDemo({ width: 0, height: 200, log: () => {} })).rejects.toThrow(/width must be an integer in 1\.\.16384/);
  });
});
