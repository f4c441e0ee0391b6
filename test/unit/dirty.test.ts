// TileGrid.toRects with TileBounds: rectangles trimmed to the changed pixels. Random damage is
// kept as a pixel mask alongside; every owed pixel must be sent, nothing outside the clip, the
// surface or the marked tiles, and never more area than whole tiles.
import { describe, expect, it } from 'vitest';
import { TileBounds, TileGrid } from '../../src/surface/dirty.js';
import type { Rect } from '../../src/rfb/encodings/types.js';
import { xorshift } from '../helpers/random.js';

/** What a capture reports for a set of changed pixels: the dirty bitmap and the bounds bytes. */
function captureOf(grid: TileGrid, changed: Uint8Array): { bitmap: Uint8Array; bounds: Uint8Array } {
  const t = grid.tileSize;
  const bitmap = grid.newBitmap(0);
  const bounds = new Uint8Array(grid.count * 4);
  for (let y = 0; y < grid.height; y++) {
    for (let x = 0; x < grid.width; x++) {
      if (!changed[y * grid.width + x]) continue;
      const i = Math.floor(y / t) * grid.tilesX + Math.floor(x / t);
      const lx = x % t, ly = y % t;
      if (!bitmap[i]) {
        bitmap[i] = 1;
        bounds.set([lx, ly, lx + 1, ly + 1], i * 4);
      } else {
        bounds[i * 4] = Math.min(bounds[i * 4]!, lx);
        bounds[i * 4 + 1] = Math.min(bounds[i * 4 + 1]!, ly);
        bounds[i * 4 + 2] = Math.max(bounds[i * 4 + 2]!, lx + 1);
        bounds[i * 4 + 3] = Math.max(bounds[i * 4 + 3]!, ly + 1);
      }
    }
  }
  return { bitmap, bounds };
}

function paint(mask: Uint8Array, width: number, height: number, r: Rect): void {
  for (let y = Math.max(0, r.y); y < Math.min(height, r.y + r.h); y++)
    for (let x = Math.max(0, r.x); x < Math.min(width, r.x + r.w); x++) mask[y * width + x] = 1;
}

function randomRect(rand: () => number, width: number, height: number, max: number): Rect {
  const w = 1 + (rand() % max), h = 1 + (rand() % max);
  return { x: (rand() % (width + 10)) - 5, y: (rand() % (height + 10)) - 5, w, h };
}

const areaOf = (rects: Rect[]): number => rects.reduce((sum, r) => sum + r.w * r.h, 0);

/** Checks the trimmed rectangles against the owed pixels and the whole-tile rectangles. */
function checkRects(grid: TileGrid, pending: Uint8Array, bounds: TileBounds, owed: Uint8Array, clip: Rect, label: string): Rect[] {
  const { width, height } = grid;
  const rects = grid.toRects(pending, clip, bounds);
  const tiles = grid.toRects(pending, clip);
  const covered = new Uint8Array(width * height);
  for (const r of rects) {
    expect(r.w > 0 && r.h > 0, label).toBe(true);
    expect(r.x >= Math.max(0, clip.x) && r.y >= Math.max(0, clip.y), `${label}: ${JSON.stringify(r)} inside clip`).toBe(true);
    expect(r.x + r.w <= Math.min(width, clip.x + clip.w) && r.y + r.h <= Math.min(height, clip.y + clip.h), `${label}: ${JSON.stringify(r)} inside clip`).toBe(true);
    for (let y = r.y; y < r.y + r.h; y++) {
      for (let x = r.x; x < r.x + r.w; x++) {
        if (covered[y * width + x]) expect.fail(`${label}: rects overlap at ${x},${y}`);
        covered[y * width + x] = 1;
        const tile = Math.floor(y / grid.tileSize) * grid.tilesX + Math.floor(x / grid.tileSize);
        if (!pending[tile]) expect.fail(`${label}: ${x},${y} is in a tile that is not pending`);
      }
    }
  }
  for (let y = Math.max(0, clip.y); y < Math.min(height, clip.y + clip.h); y++) {
    for (let x = Math.max(0, clip.x); x < Math.min(width, clip.x + clip.w); x++) {
      if (owed[y * width + x] && !covered[y * width + x]) expect.fail(`${label}: changed pixel ${x},${y} not sent`);
    }
  }
  expect(areaOf(rects), label).toBeLessThanOrEqual(areaOf(tiles));
  expect(rects.length, label).toBeLessThanOrEqual(2 * tiles.length + 4);
  return rects;
}

/** As a session does after an update: tiles entirely inside `area` are no longer pending. */
function clearSent(grid: TileGrid, pending: Uint8Array, owed: Uint8Array, area: Rect): void {
  const t = grid.tileSize;
  for (let ty = 0; ty < grid.tilesY; ty++) {
    for (let tx = 0; tx < grid.tilesX; tx++) {
      const x0 = tx * t, y0 = ty * t, x1 = Math.min(x0 + t, grid.width), y1 = Math.min(y0 + t, grid.height);
      if (x0 < area.x || y0 < area.y || x1 > area.x + area.w || y1 > area.y + area.h) continue;
      pending[ty * grid.tilesX + tx] = 0;
      for (let y = y0; y < y1; y++) owed.fill(0, y * grid.width + x0, y * grid.width + x1);
    }
  }
}

describe('TileGrid.toRects with bounds', () => {
  it('random damage, rects, refreshes and partial sends: every owed pixel goes out, tightly', () => {
    const rand = xorshift(2024);
    for (let trial = 0; trial < 60; trial++) {
      const tile = [8, 16, 32, 33, 64, 256][trial % 6]!;
      const width = 1 + (rand() % 300), height = 1 + (rand() % 200);
      const grid = new TileGrid(width, height, tile);
      const pending = grid.newBitmap(0);
      const bounds = new TileBounds(grid);
      const owed = new Uint8Array(width * height);
      for (let round = 0; round < 8; round++) {
        const label = `trial ${trial} ${width}x${height} tile ${tile} round ${round}`;
        const kind = rand() % 10;
        if (kind < 6) {
          // A capture: a few rectangles and dots changed.
          const changed = new Uint8Array(width * height);
          const n = 1 + (rand() % 6);
          for (let k = 0; k < n; k++) paint(changed, width, height, randomRect(rand, width, height, k % 2 ? 3 : 60));
          const { bitmap, bounds: captured } = captureOf(grid, changed);
          // Tile sizes above 255 have no bounds bytes (all 0): whole tiles.
          bounds.addDamage(pending, bitmap, tile > 255 ? new Uint8Array(grid.count * 4) : captured);
          for (let i = 0; i < changed.length; i++) owed[i] ||= changed[i]!;
          if (tile > 255) for (let i = 0; i < grid.count; i++) if (bitmap[i]) paintTile(grid, owed, i);
        } else if (kind < 8) {
          const r = randomRect(rand, width, height, 40);
          grid.markRect(pending, r, bounds);
          paint(owed, width, height, r);
        } else if (kind < 9) {
          // A lossless refresh sets bits directly: tiles that were not pending count as whole.
          const i = rand() % grid.count;
          if (!pending[i]) {
            pending[i] = 1;
            paintTile(grid, owed, i);
          }
        } else {
          bounds.markAll(pending);
          owed.fill(1);
        }
        const clip = rand() % 3 === 0 ? randomRect(rand, width, height, 250) : { x: 0, y: 0, w: width, h: height };
        checkRects(grid, pending, bounds, owed, clip, label);
        if (rand() % 2) {
          clearSent(grid, pending, owed, clip);
          bounds.forgetUnmarked(pending);
        }
      }
    }
  });

  it('takes a capture\'s bounds bytes directly', () => {
    const grid = new TileGrid(100, 80, 32);
    const changed = new Uint8Array(100 * 80);
    paint(changed, 100, 80, { x: 30, y: 28, w: 11, h: 17 }); // straddles four tiles
    const { bitmap, bounds } = captureOf(grid, changed);
    expect(grid.toRects(bitmap, undefined, bounds)).toEqual([{ x: 30, y: 28, w: 11, h: 17 }]);
    expect(areaOf(grid.toRects(bitmap))).toBe(64 * 64);
  });

  it('whole-tile damage gives the same rectangles as without bounds', () => {
    const grid = new TileGrid(200, 150, 32);
    const pending = grid.newBitmap(0);
    const bounds = new TileBounds(grid);
    const damage = grid.newBitmap(0);
    for (const i of [0, 1, 2, 7, 8, 9, 14, 15, 16, 30, 41]) damage[i] = 1;
    bounds.addDamage(pending, damage);
    expect(grid.toRects(pending, undefined, bounds)).toEqual(grid.toRects(pending));
  });

  it('a pending tile without bounds stays whole when a small change joins it', () => {
    const grid = new TileGrid(64, 64, 32);
    const pending = grid.newBitmap(0);
    const bounds = new TileBounds(grid);
    pending[0] = 1; // set directly: whole
    grid.markRect(pending, { x: 3, y: 3, w: 2, h: 2 }, bounds);
    expect(grid.toRects(pending, undefined, bounds)).toEqual([{ x: 0, y: 0, w: 32, h: 32 }]);
  });

  it('scattered dots in every tile: bounded by 2 × the tile rectangles + 4', () => {
    const grid = new TileGrid(640, 480, 32);
    const changed = new Uint8Array(640 * 480);
    for (let ty = 0; ty < grid.tilesY; ty++)
      for (let tx = 0; tx < grid.tilesX; tx++) paint(changed, 640, 480, { x: tx * 32 + ((tx + ty) % 2 ? 0 : 31), y: ty * 32 + ((tx * 7 + ty) % 32), w: 1, h: 1 });
    const { bitmap, bounds } = captureOf(grid, changed);
    const rects = grid.toRects(bitmap, undefined, bounds);
    expect(grid.toRects(bitmap).length).toBe(1);
    expect(rects.length).toBeLessThanOrEqual(6);
    for (let i = 0; i < changed.length; i++) {
      if (!changed[i]) continue;
      const x = i % 640, y = Math.floor(i / 640);
      expect(rects.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h)).toBe(true);
    }
  });
});

function paintTile(grid: TileGrid, mask: Uint8Array, i: number): void {
  const t = grid.tileSize;
  paint(mask, grid.width, grid.height, { x: (i % grid.tilesX) * t, y: Math.floor(i / grid.tilesX) * t, w: t, h: t });
}
