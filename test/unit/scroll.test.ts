// Scroll detection: native segment hashes + ScrollDetector + verifyMoves on real captures of
// synthetic desktops where a window's text scrolls by d. A move is judged only by what a client
// gets from it: the previous frame with the moves applied in order must hold the new frame's
// pixels in every move's destination.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native, type NativeMapping, type PlaneGeometry, type SourceSigs } from '../../src/native.js';
import { TileGrid } from '../../src/surface/dirty.js';
import { ScrollDetector, verifyMoves, type Move } from '../../src/surface/scroll.js';
import type { Rect } from '../../src/rfb/encodings/types.js';
import { ScrollScene } from '../helpers/scroll-frames.js';
import { CapturedDisplay } from '../../src/surface/captured-display.js';
import { SourceSignatures } from '../../src/surface/source-sigs.js';

const XRGB8888 = 0x34325258;
const OLD_ROW_STEP = 8;
const dir = mkdtempSync(join(tmpdir(), 'vgpu-scroll-'));
const mappings: NativeMapping[] = [];
afterAll(() => {
  for (const m of mappings) m.close();
  rmSync(dir, { recursive: true, force: true });
});
let files = 0;

interface Step {
  grid: TileGrid;
  before: Buffer;
  after: Buffer;
  dirty: Uint8Array;
  found: Move[];
  moves: Move[];
  prev: Uint32Array;
  cur: Uint32Array;
  oldRows: Buffer;
  sigs: SourceSigs | undefined;
}

/** Captures `a` (full), then `b` (incremental, with history, and source signatures when `withSigs`); returns the detected moves. */
function captureStep(width: number, height: number, a: Buffer, b: Buffer, tileSize: number, detector = new ScrollDetector(), withSigs = false): Step {
  const path = join(dir, `frames-${files++}.bin`);
  writeFileSync(path, Buffer.concat([a, b]));
  const mapping = new native.Mapping(path);
  mappings.push(mapping);
  const plane = (i: number): PlaneGeometry => ({ fourcc: XRGB8888, width, height, stride: width * 4, offset: i * a.length });
  const grid = new TileGrid(width, height, tileSize);
  const cur = new Uint32Array(height * grid.tilesX * 2);
  const prev = new Uint32Array(cur.length);
  const hashes = Buffer.from(cur.buffer);
  const oldRows = Buffer.alloc(Math.ceil(height / OLD_ROW_STEP) * width * 4);
  const surface = Buffer.alloc(width * height * 4);
  const sigs = withSigs ? new SourceSignatures(width, height, tileSize).forPass() : undefined;
  native.captureSync(mapping, plane(0), surface, tileSize, true, undefined, { segmentHashes: hashes }, sigs);
  const before = Buffer.from(surface);
  prev.set(cur);
  const result = native.captureSync(mapping, plane(1), surface, tileSize, false, undefined, { segmentHashes: hashes, oldRows, oldRowStep: OLD_ROW_STEP }, sigs);
  const found = detector.detect(grid, result.dirty, prev, cur);
  const moves = verifyMoves(found, { data: surface, width }, oldRows, OLD_ROW_STEP, sigs);
  return { grid, before, after: Buffer.from(surface), dirty: result.dirty, found, moves, prev, cur, oldRows, sigs };
}

/** What a client holding `fb` has after the CopyRects, applied one after the other. */
function applyMoves(fb: Buffer, width: number, moves: Move[]): Buffer {
  const out = Buffer.from(fb);
  for (const m of moves) {
    const tmp = Buffer.alloc(m.w * m.h * 4);
    for (let j = 0; j < m.h; j++) out.copy(tmp, j * m.w * 4, ((m.y + m.dy + j) * width + m.x) * 4, ((m.y + m.dy + j) * width + m.x + m.w) * 4);
    for (let j = 0; j < m.h; j++) tmp.copy(out, ((m.y + j) * width + m.x) * 4, j * m.w * 4, (j + 1) * m.w * 4);
  }
  return out;
}

/** Every destination pixel of every move is the new frame's. */
function expectExact(step: Step, width: number): void {
  const client = applyMoves(step.before, width, step.moves);
  for (const m of step.moves) {
    for (let j = 0; j < m.h; j++) {
      const at = ((m.y + j) * width + m.x) * 4;
      if (!client.subarray(at, at + m.w * 4).equals(step.after.subarray(at, at + m.w * 4)))
        throw new Error(`move ${JSON.stringify(m)}: row ${m.y + j} differs from the new frame`);
    }
  }
}

/** Tiles wholly inside some move's destination. */
function coveredTiles(grid: TileGrid, moves: Move[]): Uint8Array {
  const covered = grid.newBitmap(0);
  const t = grid.tileSize;
  for (let ty = 0; ty < grid.tilesY; ty++)
    for (let tx = 0; tx < grid.tilesX; tx++) {
      const x0 = tx * t, y0 = ty * t, x1 = Math.min(x0 + t, grid.width), y1 = Math.min(y0 + t, grid.height);
      if (moves.some((m) => m.x <= x0 && x1 <= m.x + m.w && m.y <= y0 && y1 <= m.y + m.h)) covered[ty * grid.tilesX + tx] = 1;
    }
  return covered;
}

/** Dirty tiles lying wholly in `area` (the part of the window whose new pixels are old ones moved). */
function dirtyTilesIn(grid: TileGrid, dirty: Uint8Array, area: Rect): number[] {
  const t = grid.tileSize, out: number[] = [];
  for (let ty = 0; ty < grid.tilesY; ty++)
    for (let tx = 0; tx < grid.tilesX; tx++) {
      const x0 = tx * t, y0 = ty * t, x1 = Math.min(x0 + t, grid.width), y1 = Math.min(y0 + t, grid.height);
      if (dirty[ty * grid.tilesX + tx] && area.x <= x0 && x1 <= area.x + area.w && area.y <= y0 && y1 <= area.y + area.h) out.push(ty * grid.tilesX + tx);
    }
  return out;
}

describe('scroll detection on captured frames', () => {
  const cases: Array<{ name: string; width: number; height: number; window: Rect; d: number; tile: number }> = [
    { name: 'window at tile corners, up 8', width: 640, height: 480, window: { x: 64, y: 64, w: 384, h: 320 }, d: 8, tile: 32 },
    { name: 'unaligned window, up 8', width: 640, height: 480, window: { x: 37, y: 53, w: 421, h: 333 }, d: 8, tile: 32 },
    { name: 'unaligned window, up 1', width: 640, height: 480, window: { x: 37, y: 53, w: 421, h: 333 }, d: 1, tile: 32 },
    { name: 'unaligned window, up 40, 64-px tiles', width: 800, height: 600, window: { x: 100, y: 30, w: 600, h: 500 }, d: 40, tile: 64 },
    { name: 'down 24 (content moves down)', width: 640, height: 480, window: { x: 37, y: 53, w: 421, h: 333 }, d: -24, tile: 32 },
    { name: 'full-width terminal, up 16', width: 512, height: 400, window: { x: 0, y: 0, w: 512, h: 400 }, d: 16, tile: 32 },
    { name: 'odd surface size, up 8', width: 333, height: 277, window: { x: 5, y: 9, w: 300, h: 250 }, d: 8, tile: 32 },
  ];
  for (const c of cases) {
    it(`${c.name}: moves are exact and explain the scrolled part`, () => {
      const scene = new ScrollScene(c.width, c.height, c.window, 3);
      const top = 100;
      const step = captureStep(c.width, c.height, scene.frame(top), scene.frame(top + c.d), c.tile);
      expectExact(step, c.width);
      expect(step.moves.length).toBeGreaterThan(0);
      expect(step.moves).toEqual(step.found); // real pixels agree with every hash match
      for (const m of step.moves) expect(m.dy).toBe(c.d);
      // New rows y come from old rows y + d: inside the window, except the strip the scroll exposed.
      const { x, y, w, h } = c.window;
      const moved = c.d > 0 ? { x, y, w, h: h - c.d } : { x, y: y - c.d, w, h: h + c.d };
      const expected = dirtyTilesIn(step.grid, step.dirty, moved);
      expect(expected.length).toBeGreaterThan(0);
      const covered = coveredTiles(step.grid, step.moves);
      expect(expected.filter((i) => !covered[i])).toEqual([]);
      // Nothing outside the window moves.
      for (const m of step.moves) {
        expect(m.x + m.w).toBeLessThanOrEqual(Math.min(c.width, Math.ceil((x + w) / c.tile) * c.tile));
        expect(m.x).toBeGreaterThanOrEqual(Math.floor(x / c.tile) * c.tile);
      }
    });
  }

  it('a different document in the window (no vertical relation) reports no move', () => {
    const window = { x: 37, y: 53, w: 421, h: 333 };
    const a = new ScrollScene(640, 480, window, 3), b = new ScrollScene(640, 480, window, 4);
    const step = captureStep(640, 480, a.frame(0), b.frame(0), 32);
    expect(step.dirty.includes(1)).toBe(true);
    expect(step.found).toEqual([]);
  });

  it('a horizontal move reports no (vertical) move', () => {
    const window = { x: 40, y: 40, w: 400, h: 300 };
    const scene = new ScrollScene(640, 480, window, 5);
    const a = scene.frameWords(0);
    const b = new Uint32Array(a);
    for (let y = window.y; y < window.y + window.h; y++) b.copyWithin(y * 640 + window.x + 8, y * 640 + window.x, y * 640 + window.x + window.w - 8);
    const step = captureStep(640, 480, Buffer.from(a.buffer), Buffer.from(b.buffer), 32);
    expect(step.dirty.includes(1)).toBe(true);
    expect(step.found).toEqual([]);
  });

  it('two panes scrolling by different amounts in the same columns', () => {
    // Upper pane up 8, lower pane down 16: both explained, applied in order, exact.
    const width = 512, height = 512;
    const upper = new ScrollScene(width, height, { x: 0, y: 0, w: 512, h: 240 }, 6);
    const lower = new ScrollScene(width, height, { x: 0, y: 256, w: 512, h: 256 }, 7);
    const compose = (t1: number, t2: number): Buffer => {
      const u = upper.frameWords(t1), l = lower.frameWords(t2);
      u.set(l.subarray(256 * width), 256 * width);
      return Buffer.from(u.buffer);
    };
    const step = captureStep(width, height, compose(50, 80), compose(58, 64), 32);
    expectExact(step, width);
    expect(new Set(step.moves.map((m) => m.dy))).toEqual(new Set([8, -16]));
  });

  it('a forged hash match (collision) is found by the detector but refused by the real pixels', () => {
    const window = { x: 64, y: 64, w: 256, h: 256 };
    const a = new ScrollScene(640, 480, window, 8), b = new ScrollScene(640, 480, window, 9);
    const step = captureStep(640, 480, a.frame(0), b.frame(0), 32);
    expect(step.found).toEqual([]);
    // Pretend every segment of the old frame in columns 2..9 hashed like the new one 8 rows up.
    const grid = step.grid, forged = step.prev.slice();
    for (let y = 0; y + 8 < 480; y++)
      for (let tx = 2; tx < 10; tx++) {
        const i = (y * grid.tilesX + tx) * 2, j = ((y + 8) * grid.tilesX + tx) * 2;
        forged[j] = step.cur[i]!;
        forged[j + 1] = step.cur[i + 1]!;
      }
    const found = new ScrollDetector().detect(grid, step.dirty, forged, step.cur);
    expect(found.length).toBeGreaterThan(0);
    expect(verifyMoves(found, { data: step.after, width: 640 }, step.oldRows, OLD_ROW_STEP)).toEqual([]);
  });

  describe('with source signatures (rows kept only where the capture compared them)', () => {
    for (const c of cases) {
      it(`${c.name}: the same moves as without`, () => {
        const scene = new ScrollScene(c.width, c.height, c.window, 3);
        const plain = captureStep(c.width, c.height, scene.frame(100), scene.frame(100 + c.d), c.tile);
        const signed = captureStep(c.width, c.height, scene.frame(100), scene.frame(100 + c.d), c.tile, new ScrollDetector(), true);
        expect(signed.after.equals(plain.after)).toBe(true);
        expect(signed.found).toEqual(plain.found);
        expect(signed.moves).toEqual(plain.moves);
        expectExact(signed, c.width);
      });
    }

    /** Frame b = frame a with the static rows [from, from + h) copied to rows [to, to + h), columns [x, x + w). */
    function copiedBlock(x: number, w: number, from: number, to: number, h: number) {
      const width = 640, height = 480;
      const a = new ScrollScene(width, height, { x: 0, y: 0, w: width, h: height }, 11).frameWords(0);
      const b = new Uint32Array(a);
      for (let j = 0; j < h; j++) b.copyWithin((to + j) * width + x, (from + j) * width + x, (from + j) * width + x + w);
      return captureStep(width, height, Buffer.from(a.buffer), Buffer.from(b.buffer), 32, new ScrollDetector(), true);
    }

    it('a move out of rows that did not change is checked against the surface there (nothing was kept)', () => {
      // Rows 40..119 stay; rows 300..379 get a copy of them (columns 64..447): the move dy = -260.
      const step = copiedBlock(64, 384, 40, 300, 80);
      // Nothing was kept of the unchanged source rows…
      const kept = step.oldRows.subarray((40 / OLD_ROW_STEP) * 640 * 4, (120 / OLD_ROW_STEP) * 640 * 4);
      expect(kept.every((b) => b === 0)).toBe(true);
      // …yet the true move passes (and so does a part of it) and one a row off does not.
      const move: Move = { x: 64, y: 300, w: 384, h: 80, dy: -260 };
      const args = [{ data: step.after, width: 640 }, step.oldRows, OLD_ROW_STEP, step.sigs] as const;
      expect(verifyMoves([move], ...args)).toEqual([move]);
      expect(verifyMoves([{ ...move, x: 65, w: 383 }], ...args).length).toBe(1);
      expect(verifyMoves([{ ...move, dy: -259 }], ...args)).toEqual([]);
      expectExact({ ...step, moves: verifyMoves([move], ...args) }, 640);
    });

    it('a move out of rows that changed is checked against the kept rows, not the new surface', () => {
      // Rows 300..379 (columns 64..447) are overwritten by rows 40..119: their old pixels are only in oldRows.
      const step = copiedBlock(64, 384, 40, 300, 80);
      // A claim that rows 300..379's old content moved up to 100..179: the new surface at 300..379
      // would agree with itself, the kept old rows must not.
      const fake: Move = { x: 64, y: 100, w: 384, h: 80, dy: 200 };
      expect(verifyMoves([fake], { data: step.after, width: 640 }, step.oldRows, OLD_ROW_STEP, step.sigs)).toEqual([]);
    });
  });

  it('keeps scrolling: offsets of the last frame are tried first and still exact', () => {
    const window = { x: 37, y: 53, w: 421, h: 333 };
    const scene = new ScrollScene(640, 480, window, 10);
    const detector = new ScrollDetector();
    for (let i = 0; i < 4; i++) {
      const step = captureStep(640, 480, scene.frame(i * 8), scene.frame(i * 8 + 8), 32, detector);
      expectExact(step, 640);
      expect(step.moves.length).toBeGreaterThan(0);
    }
  });

  it('rejects bad history buffers with a one-line error', () => {
    const path = join(dir, `bad-${files++}.bin`);
    writeFileSync(path, Buffer.alloc(64 * 64 * 4));
    const mapping = new native.Mapping(path);
    mappings.push(mapping);
    const plane = { fourcc: XRGB8888, width: 64, height: 64, stride: 256, offset: 0 };
    const surface = Buffer.alloc(64 * 64 * 4);
    expect(() => native.captureSync(mapping, plane, surface, 32, false, undefined, { segmentHashes: Buffer.alloc(10) })).toThrow(/^history\.segmentHashes must be a Buffer of height\*tilesX\*8 = 1024 bytes$/);
    const segmentHashes = Buffer.alloc(64 * 2 * 8);
    expect(() => native.captureSync(mapping, plane, surface, 32, false, undefined, { segmentHashes, oldRows: Buffer.alloc(8), oldRowStep: 8 })).toThrow(/oldRows must be a Buffer of ceil\(height\/oldRowStep\)\*width\*4 = 2048 bytes/);
    expect(() => native.captureSync(mapping, plane, surface, 32, false, undefined, { segmentHashes, oldRows: Buffer.alloc(2048), oldRowStep: 0 })).toThrow(/history\.oldRowStep must be an integer in 1\.\.256/);
    expect(() => native.captureSync(mapping, plane, surface, 32, false, undefined, 5 as never)).toThrow(/history must be an object/);
  });
});

describe('CapturedDisplay announces moves with the damage', () => {
  /** Plays frames top = 0, 8, 16 of a scrolling window; returns each capture's damage event. */
  async function play(scrollDetection: boolean | undefined): Promise<Array<{ before: Buffer; after: Buffer; moves: Move[] }>> {
    const width = 480, height = 320;
    const scene = new ScrollScene(width, height, { x: 20, y: 30, w: 400, h: 260 }, 21);
    const path = join(dir, `display-${files++}.bin`);
    writeFileSync(path, scene.frame(0));
    const mapping = new native.Mapping(path);
    mappings.push(mapping);
    const plane = { fourcc: XRGB8888, width, height, stride: width * 4, offset: 0 };
    const source = { description: 'scroll', nextFrame: async () => ({ kind: 'plane' as const, mapping, plane }), close: async () => {} };
    const display = new CapturedDisplay(source, { name: 't', maxFps: 200, log: () => {}, scrollDetection });
    await display.start(0);
    const events: Array<{ before: Buffer; after: Buffer; moves: Move[] }> = [];
    try {
      for (const top of [8, 16]) {
        const before = Buffer.from(display.surface.data);
        writeFileSync(path, scene.frame(top));
        const damage = new Promise<Move[] | undefined>((r) => display.once('damage', (_b: Uint8Array, moves?: Move[]) => r(moves)));
        display.wantFrame();
        const moves = (await damage) ?? [];
        events.push({ before, after: Buffer.from(display.surface.data), moves });
      }
    } finally {
      await display.close();
    }
    return events;
  }

  it('each scroll step comes with exact moves', async () => {
    for (const e of await play(undefined)) {
      expect(e.moves.length).toBeGreaterThan(0);
      const client = applyMoves(e.before, 480, e.moves);
      for (const m of e.moves)
        for (let j = 0; j < m.h; j++) {
          const at = ((m.y + j) * 480 + m.x) * 4;
          expect(client.subarray(at, at + m.w * 4).equals(e.after.subarray(at, at + m.w * 4))).toBe(true);
        }
    }
  });

  it('scrollDetection: false announces damage without moves', async () => {
    for (const e of await play(false)) expect(e.moves).toEqual([]);
  });
});
