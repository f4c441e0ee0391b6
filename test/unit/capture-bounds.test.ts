// capture() result.bounds: per dirty tile, the bounding box of the pixels that changed. The
// expected boxes come from comparing the surface before and after the capture pixel by pixel
// (so they hold for every fourcc without knowing its conversion).
import { describe, expect, it } from 'vitest';
import { native, type PlaneGeometry } from '../../src/native.js';
import { Fourcc, bytesPerPixel, type FourccName } from '../../src/surface/fourcc.js';
import { CapturedDisplay } from '../../src/surface/captured-display.js';
import { TileBounds } from '../../src/surface/dirty.js';
import type { Frame, FrameSource } from '../../src/source/types.js';
import type { Move } from '../../src/surface/scroll.js';
import { xorshift } from '../helpers/random.js';
import { mappedBytesFactory } from '../helpers/mapped-bytes.js';

const mapBytes = mappedBytesFactory('vgpu-bounds-');

/** Per tile [x0, y0, x1, y1] (tile-local, exclusive ends) of pixels that differ between a and b; zeros when none. */
function expectedBounds(a: Buffer, b: Buffer, width: number, height: number, tile: number): Uint8Array {
  const tilesX = Math.ceil(width / tile), tilesY = Math.ceil(height / tile);
  const out = new Uint8Array(tilesX * tilesY * 4);
  const boxes = Array.from({ length: tilesX * tilesY }, () => ({ x0: Infinity, y0: Infinity, x1: -1, y1: -1 }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 4;
      if (a.readUInt32LE(at) === b.readUInt32LE(at)) continue;
      const tx = Math.floor(x / tile), ty = Math.floor(y / tile);
      const box = boxes[ty * tilesX + tx]!;
      const lx = x - tx * tile, ly = y - ty * tile;
      box.x0 = Math.min(box.x0, lx);
      box.y0 = Math.min(box.y0, ly);
      box.x1 = Math.max(box.x1, lx + 1);
      box.y1 = Math.max(box.y1, ly + 1);
    }
  }
  boxes.forEach((box, i) => {
    if (box.x1 < 0) return;
    out.set([box.x0, box.y0, box.x1, box.y1], i * 4);
  });
  return out;
}

/** Random pixels; then `changes` random small rectangles and single pixels of fresh random bytes. */
function mutate(bytes: Uint8Array, width: number, height: number, bpp: number, stride: number, rand: () => number, changes: number): void {
  for (let k = 0; k < changes; k++) {
    const single = rand() % 3 === 0;
    const w = single ? 1 : 1 + (rand() % 40), h = single ? 1 : 1 + (rand() % 20);
    const x0 = rand() % width, y0 = rand() % height;
    for (let y = y0; y < Math.min(height, y0 + h); y++) {
      for (let x = x0; x < Math.min(width, x0 + w); x++) {
        for (let i = 0; i < bpp; i++) bytes[y * stride + x * bpp + i] = rand() & 0xff;
      }
    }
  }
}

const FORMATS: FourccName[] = ['XRGB8888', 'BGRX8888', 'RGB888', 'RGB565', 'XBGR2101010'];

describe('capture bounds', () => {
  for (const name of FORMATS) {
    it(`${name}: every dirty tile's bounds are exactly the box of its changed pixels`, async () => {
      const fourcc = Fourcc[name];
      const bpp = bytesPerPixel(fourcc)!;
      const rand = xorshift(0x51ed + fourcc);
      for (const [width, height, tile] of [[100, 70, 16], [67, 41, 8], [257, 90, 32], [300, 40, 33], [520, 300, 255], [130, 60, 64], [49, 23, 24]] as const) {
        const stride = width * bpp + 8;
        const bytes = new Uint8Array(stride * height);
        for (let i = 0; i < bytes.length; i++) bytes[i] = rand() & 0xff;
        const mapping = mapBytes(bytes);
        const plane: PlaneGeometry = { fourcc, width, height, stride, offset: 0 };
        const surface = Buffer.alloc(width * height * 4);
        native.captureSync(mapping, plane, surface, tile, true);
        for (let round = 0; round < 6; round++) {
          const before = Buffer.from(surface);
          const next = Uint8Array.from(bytes);
          mutate(next, width, height, bpp, stride, rand, 1 + (rand() % 12));
          mapping.write(0, next);
          bytes.set(next);
          const result = round % 2 ? await native.capture(mapping, plane, surface, tile, false) : native.captureSync(mapping, plane, surface, tile, false);
          const expected = expectedBounds(before, surface, width, height, tile);
          const label = `${width}x${height} tile ${tile} round ${round}`;
          expect(result.bounds.length, label).toBe(result.tilesX * result.tilesY * 4);
          expect([...result.bounds], label).toEqual([...expected]);
          for (let i = 0; i < result.dirty.length; i++) {
            expect(result.dirty[i], `${label} tile ${i}`).toBe(expected[i * 4 + 2]! > 0 ? 1 : 0);
          }
        }
        mapping.close();
      }
    });
  }

  it('changes at every position of a 16-pixel group and its tail are located to the pixel', () => {
    // One row, width 61, tile 61: groups of 16 at 0..47, a group of 8 at 48, then single pixels.
    const width = 61, height = 2, tile = 61;
    const bytes = new Uint8Array(width * height * 4);
    const mapping = mapBytes(bytes);
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    native.captureSync(mapping, plane, surface, tile, true);
    for (let first = 0; first < width; first++) {
      for (const last of [first, Math.min(width - 1, first + 1), Math.min(width - 1, first + 17), width - 1]) {
        const next = new Uint8Array(bytes.length);
        next[first * 4] = 1;
        next[last * 4 + 4 * width + 1] = 1; // second row
        mapping.write(0, next);
        const result = native.captureSync(mapping, plane, surface, tile, false);
        expect([...result.bounds], `first ${first} last ${last}`).toEqual([first, 0, last + 1, 2]);
        mapping.write(0, bytes);
        native.captureSync(mapping, plane, surface, tile, false);
      }
    }
    mapping.close();
  });

  it('a full pass gives whole tiles clipped to the surface; an unchanged frame all zeros', () => {
    const width = 70, height = 40, tile = 32;
    const mapping = mapBytes(new Uint8Array(width * height * 4));
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    const full = native.captureSync(mapping, plane, surface, tile, true);
    // 3 × 2 tiles: widths 32, 32, 6; heights 32, 8.
    expect([...full.bounds]).toEqual([0, 0, 32, 32, 0, 0, 32, 32, 0, 0, 6, 32, 0, 0, 32, 8, 0, 0, 32, 8, 0, 0, 6, 8]);
    const idle = native.captureSync(mapping, plane, surface, tile, false);
    expect(idle.bounds.every((b) => b === 0)).toBe(true);
    mapping.close();
  });

  it('tiles too big for a byte (256) report no bounds: dirty tiles stay whole', () => {
    const width = 300, height = 10;
    const bytes = new Uint8Array(width * height * 4);
    const mapping = mapBytes(bytes);
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    native.captureSync(mapping, plane, surface, 256, true);
    bytes[(5 * width + 10) * 4] = 9;
    mapping.write(0, bytes);
    const result = native.captureSync(mapping, plane, surface, 256, false);
    expect([...result.dirty]).toEqual([1, 0]);
    expect(result.bounds.every((b) => b === 0)).toBe(true);
    mapping.close();
  });

  it('a probe that stops before the full pass reports no bounds', () => {
    const width = 64, height = 32;
    const bytes = new Uint8Array(width * height * 4);
    const mapping = mapBytes(bytes);
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    native.captureSync(mapping, plane, surface, 32, true);
    bytes[0] = 7;
    mapping.write(0, bytes);
    const probe = { rowStep: 1, phase: 0, fullPassOnChange: false };
    const sigs = { sigs: Buffer.alloc(height * 2 * 8), segmentWidth: 32 };
    const result = native.captureSync(mapping, plane, surface, 32, false, probe, undefined, sigs);
    expect(result.probeChanged).toBe(true);
    expect(result.probeOnly).toBe(true);
    expect(result.bounds.every((b) => b === 0)).toBe(true);
    mapping.close();
  });
});

describe('CapturedDisplay damage', () => {
  it('carries the capture bounds; a session-style TileBounds turns them into the exact rectangle', async () => {
    const width = 128, height = 64;
    const mapping = mapBytes(new Uint8Array(width * height * 4).fill(0x40));
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const source: FrameSource = {
      description: 'one plane',
      nextFrame: async (): Promise<Frame> => ({ kind: 'plane', mapping, plane }),
      close: async () => {},
    };
    const display = new CapturedDisplay(source, { name: 't', maxFps: 100, log: () => {}, tileSize: 32, scrollDetection: false });
    await display.start();
    // Pixels (100..102, 40..41): tile (3, 1), local box 4..7 × 8..10.
    for (const [x, y] of [[100, 40], [102, 41]] as const) mapping.writeU32((y * width + x) * 4, 0x00ff0000);
    const event = new Promise<[Uint8Array, Move[], Uint8Array | undefined]>((resolve) => display.once('damage', (...args: [Uint8Array, Move[], Uint8Array | undefined]) => resolve(args)));
    display.wantFrame();
    const [bitmap, , bounds] = await event;
    expect([...bitmap]).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect([...bounds!.subarray(7 * 4, 8 * 4)]).toEqual([4, 8, 7, 10]);
    const pending = display.grid.newBitmap(0);
    const pendingBounds = new TileBounds(display.grid);
    pendingBounds.addDamage(pending, bitmap, bounds);
    expect(display.grid.toRects(pending, undefined, pendingBounds)).toEqual([{ x: 100, y: 40, w: 3, h: 2 }]);
    await display.close();
    mapping.close();
  });
});
