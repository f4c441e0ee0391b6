import { describe, expect, it } from 'vitest';
import { TileGrid } from '../../src/surface/dirty.js';
import { SurfaceBuffers, copyTiles } from '../../src/surface/surface-buffers.js';
import { xorshift } from '../helpers/random.js';

function randomSurface(width: number, height: number, seed: number) {
  const next = xorshift(seed);
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(next() & 0x00ffffff, i);
  return { data, width, height };
}

describe('copyTiles', () => {
  it('copies exactly the marked tiles, edge tiles clipped to the surface', () => {
    const width = 70, height = 45, tile = 16; // 5×3 tiles, the last column and row partial
    const grid = new TileGrid(width, height, tile);
    const next = xorshift(7);
    for (let round = 0; round < 50; round++) {
      const from = randomSurface(width, height, round + 1);
      const to = randomSurface(width, height, round + 100).data;
      const before = Buffer.from(to);
      const tiles = grid.newBitmap(0).map(() => (next() % 3 === 0 ? 1 : 0));
      copyTiles(from, to, grid, tiles);
      const expected = Buffer.alloc(to.length);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const marked = tiles[Math.floor(y / tile) * grid.tilesX + Math.floor(x / tile)];
          const i = (y * width + x) * 4;
          expected.writeUInt32LE((marked ? from.data : before).readUInt32LE(i), i);
        }
      }
      expect(to.equals(expected)).toBe(true);
    }
  });
});

describe('SurfaceBuffers', () => {
  it('gives the front to a writer only while nobody holds it, and the spare only when asked', () => {
    const grid = new TileGrid(32, 32, 16);
    const buffers = new SurfaceBuffers(randomSurface(32, 32, 1), grid);
    const front = buffers.front.data;
    const release = buffers.hold()!;
    expect(buffers.take(false)).toBeUndefined();
    const spare = buffers.take(true)!;
    expect(spare).not.toBe(front);
    expect(spare.equals(front)).toBe(true); // caught up before it is written
    spare.writeUInt32LE(0x00ff00ff, 0);
    buffers.present(spare, Uint8Array.of(1, 0, 0, 0));
    expect(buffers.finishWrite()).toBe(false); // the front was never written: holds were given all along
    expect(buffers.front.data).toBe(spare);
    // The old front, still held, is now the spare: nobody may write either buffer.
    const releaseNew = buffers.hold()!;
    expect(buffers.take(true)).toBeUndefined();
    release();
    expect(buffers.take(true)).toBe(front);
    expect(front.readUInt32LE(0)).toBe(0x00ff00ff);
    releaseNew();
  });

  it('counts a spare a failed capture left half-written as behind in every tile', () => {
    const grid = new TileGrid(32, 32, 16);
    const surface = randomSurface(32, 32, 2);
    const buffers = new SurfaceBuffers(surface, grid);
    const release = buffers.hold()!;
    const spare = buffers.take(true)!;
    spare.fill(0xee); // a capture wrote part of it, then failed
    buffers.finishWrite();
    const again = buffers.take(true)!;
    expect(again).toBe(spare);
    expect(again.equals(surface.data)).toBe(true);
    release();
  });

  it('wakes a waiting writer on a release', async () => {
    const grid = new TileGrid(16, 16, 16);
    const buffers = new SurfaceBuffers(randomSurface(16, 16, 3), grid);
    const release = buffers.hold()!;
    let woken = false;
    const waiting = buffers.changed().then(() => (woken = true));
    await Promise.resolve();
    expect(woken).toBe(false);
    release();
    await waiting;
    expect(buffers.take(false)).toBe(buffers.front.data);
  });
});
