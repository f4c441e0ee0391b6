// Dirty-tile bitmaps: one byte per tile, row-major. Sessions OR new damage into their own
// bitmap (coalescing: a slow client's pending region never grows past one frame).
// TileBounds narrow each dirty tile to the box of pixels that really changed, so updates
// send those pixels rather than whole tiles.
import type { Rect } from '../rfb/encodings/types.js';

/**
 * Per-rectangle overhead, in pixels, that trimming weighs against pixels sent for nothing: a
 * rectangle is cut in two only when that saves more than this many pixels. For compressing
 * encodings (ZRLE, Tight, JPEG) the pixels a cut saves are mostly flat background that costs
 * next to nothing, while each rectangle costs a header, a zlib flush and lost context (~100
 * bytes measured with Tight on a scrolling terminal): cut only for big savings.
 */
export const RECT_COST_PIXELS = 4096;
/** The same for Raw, where a pixel costs 4 bytes and a header 12. */
export const RECT_COST_RAW = 4;
/** Trimmed rectangles may number at most this many times the tile rectangles (plus RECT_SLACK). */
const RECT_FACTOR = 2;
const RECT_SLACK = 4;

export class TileGrid {
  readonly tilesX: number;
  readonly tilesY: number;
  constructor(readonly width: number, readonly height: number, readonly tileSize: number) {
    this.tilesX = Math.ceil(width / tileSize);
    this.tilesY = Math.ceil(height / tileSize);
  }
  get count(): number {
    return this.tilesX * this.tilesY;
  }
  newBitmap(fill = 0): Uint8Array {
    return new Uint8Array(this.count).fill(fill);
  }
  /**
   * Mark every tile that touches `r` (clipped to the surface). With `bounds` (kept for `bitmap`,
   * see TileBounds) the tiles' bounds grow by exactly `r`.
   */
  markRect(bitmap: Uint8Array, r: Rect, bounds?: TileBounds): void {
    if (bounds) {
      bounds.addRect(bitmap, r);
      return;
    }
    const x0 = Math.max(0, r.x), y0 = Math.max(0, r.y);
    const x1 = Math.min(this.width, r.x + r.w), y1 = Math.min(this.height, r.y + r.h);
    if (x1 <= x0 || y1 <= y0) return;
    const t = this.tileSize;
    for (let ty = Math.floor(y0 / t); ty <= Math.floor((y1 - 1) / t); ty++)
      for (let tx = Math.floor(x0 / t); tx <= Math.floor((x1 - 1) / t); tx++) bitmap[ty * this.tilesX + tx] = 1;
  }
  /**
   * Rectangles covering the marked tiles of `bitmap` that intersect `clip`, clipped to it.
   * Without `bounds`: whole tiles, as horizontal runs per tile row merged downwards while the run
   * is identical. With `bounds` (a TileBounds kept for `bitmap`, or a capture's `bounds` bytes):
   * each of those rectangles shrunk to its changed pixels, and cut between tile rows or columns
   * where that saves more than `rectCost` pixels (best saving first; each side shrunk and maybe
   * cut again). The result covers every changed pixel inside `clip`, stays inside the marked
   * tiles, never overlaps, and has at most 2 × as many rectangles as the whole-tile answer + 4;
   * sorted top to bottom, left to right.
   */
  toRects(bitmap: Uint8Array, clip: Rect = this.whole(), bounds?: TileBounds | Uint8Array, rectCost = RECT_COST_PIXELS): Rect[] {
    const tileRects = this.tileRects(bitmap, clip);
    if (!bounds || tileRects.length === 0) return tileRects;
    const boxes = this.clippedBoxes(bitmap, clip, bounds);
    const limit = RECT_FACTOR * tileRects.length + RECT_SLACK;
    // Best cut first, while cuts save more than rectCost and the count allows.
    const queue = new PieceQueue();
    const out: Rect[] = [];
    let count = 0;
    const consider = (r: Rect): void => {
      const piece = this.piece(r, boxes);
      if (!piece) return;
      count++;
      if (piece.gain > rectCost) queue.push(piece);
      else out.push(piece.union);
    };
    for (const r of tileRects) consider(r);
    for (let piece = queue.pop(); piece; piece = queue.pop()) {
      if (count >= limit) {
        out.push(piece.union);
        continue;
      }
      count--;
      for (const side of piece.sides) consider(side);
    }
    return out.sort((a, b) => a.y - b.y || a.x - b.x);
  }

  private whole(): Rect {
    return { x: 0, y: 0, w: this.width, h: this.height };
  }

  private tileRects(bitmap: Uint8Array, clip: Rect): Rect[] {
    const t = this.tileSize;
    const open = new Map<string, Rect>(); // runs of the previous tile row, by "x0,x1"
    const out: Rect[] = [];
    for (let ty = 0; ty < this.tilesY; ty++) {
      const next = new Map<string, Rect>();
      let tx = 0;
      while (tx < this.tilesX) {
        if (!bitmap[ty * this.tilesX + tx]) { tx++; continue; }
        const start = tx;
        while (tx < this.tilesX && bitmap[ty * this.tilesX + tx]) tx++;
        const key = `${start},${tx}`;
        const above = open.get(key);
        if (above) {
          above.h += t;
          open.delete(key);
          next.set(key, above);
        } else {
          const r = { x: start * t, y: ty * t, w: (tx - start) * t, h: t };
          out.push(r);
          next.set(key, r);
        }
      }
      open.clear();
      for (const [k, v] of next) open.set(k, v);
    }
    const result: Rect[] = [];
    for (const r of out) {
      const c = intersect(r, clip);
      const s = intersect(c ?? r, this.whole());
      if (c && s) result.push(s);
    }
    return result;
  }

  /**
   * Per tile: the changed box in surface coordinates, clipped to `clip` and the surface, as
   * x0,y0,x1,y1; x1 = -1 when the tile is clean or nothing of it is inside `clip`.
   */
  private clippedBoxes(bitmap: Uint8Array, clip: Rect, bounds: TileBounds | Uint8Array): Int32Array {
    const raw = bounds instanceof TileBounds ? bounds.data : bounds;
    const known = raw.length === this.count * 4; // bounds of another grid: whole tiles
    const t = this.tileSize;
    const cx0 = Math.max(0, clip.x), cy0 = Math.max(0, clip.y);
    const cx1 = Math.min(this.width, clip.x + clip.w), cy1 = Math.min(this.height, clip.y + clip.h);
    const out = new Int32Array(this.count * 4).fill(-1);
    for (let i = 0; i < this.count; i++) {
      if (!bitmap[i]) continue;
      const ox = (i % this.tilesX) * t, oy = Math.floor(i / this.tilesX) * t;
      // A marked tile without bounds is whole.
      const has = known && raw[i * 4 + 2]! > raw[i * 4]! && raw[i * 4 + 3]! > raw[i * 4 + 1]!;
      const x0 = Math.max(cx0, ox + (has ? raw[i * 4]! : 0)), y0 = Math.max(cy0, oy + (has ? raw[i * 4 + 1]! : 0));
      const x1 = Math.min(cx1, ox + (has ? raw[i * 4 + 2]! : t)), y1 = Math.min(cy1, oy + (has ? raw[i * 4 + 3]! : t));
      if (x1 <= x0 || y1 <= y0) continue;
      out[i * 4] = x0;
      out[i * 4 + 1] = y0;
      out[i * 4 + 2] = x1;
      out[i * 4 + 3] = y1;
    }
    return out;
  }

  /**
   * What `r` (tiles of one tile rectangle) must send: the union of its tiles' boxes (undefined
   * when there is none), and the cut between its tile rows or columns whose two sides' unions
   * have the least area, with the pixels that cut saves.
   */
  private piece(r: Rect, boxes: Int32Array): Piece | undefined {
    const t = this.tileSize;
    const tx0 = Math.floor(r.x / t), tx1 = Math.ceil((r.x + r.w) / t);
    const ty0 = Math.floor(r.y / t), ty1 = Math.ceil((r.y + r.h) / t);
    // Union of the boxes in each tile row and each tile column of r.
    const rowBox = new Boxes(ty1 - ty0), colBox = new Boxes(tx1 - tx0);
    for (let ty = ty0; ty < ty1; ty++) {
      for (let tx = tx0; tx < tx1; tx++) {
        const i = (ty * this.tilesX + tx) * 4;
        if (boxes[i + 2]! < 0) continue;
        rowBox.add(ty - ty0, boxes, i);
        colBox.add(tx - tx0, boxes, i);
      }
    }
    const all = rowBox.union();
    if (all.empty()) return undefined;
    const byRow = rowBox.bestCut(), byCol = colBox.bestCut();
    let sides: [Rect, Rect];
    if (byRow.area <= byCol.area) {
      const y = (ty0 + byRow.at) * t;
      sides = [{ x: r.x, y: r.y, w: r.w, h: y - r.y }, { x: r.x, y, w: r.w, h: r.y + r.h - y }];
    } else {
      const x = (tx0 + byCol.at) * t;
      sides = [{ x: r.x, y: r.y, w: x - r.x, h: r.h }, { x, y: r.y, w: r.x + r.w - x, h: r.h }];
    }
    return { union: all.rect(), gain: all.area() - Math.min(byRow.area, byCol.area), sides };
  }
}

/** Part of a tile rectangle: what it sends whole, and the best cut of it. */
interface Piece {
  union: Rect;
  /** pixels the cut saves (-Infinity: a single tile, no cut) */
  gain: number;
  sides: [Rect, Rect];
}

/** Pieces by gain, largest first (a binary heap). */
class PieceQueue {
  private readonly heap: Piece[] = [];
  push(p: Piece): void {
    const h = this.heap;
    let k = h.push(p) - 1;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (h[parent]!.gain >= p.gain) break;
      h[k] = h[parent]!;
      k = parent;
    }
    h[k] = p;
  }
  pop(): Piece | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || !last) return top;
    let k = 0;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= h.length) break;
      if (child + 1 < h.length && h[child + 1]!.gain > h[child]!.gain) child++;
      if (h[child]!.gain <= last.gain) break;
      h[k] = h[child]!;
      k = child;
    }
    h[k] = last;
    return top;
  }
}

/** A row of boxes x0,y0,x1,y1 (x1 = -1: empty), each a union of tile boxes. */
class Boxes {
  readonly b: Int32Array;
  constructor(readonly n: number) {
    this.b = new Int32Array(n * 4);
    for (let k = 0; k < n; k++) this.b.set([0x7fffffff, 0x7fffffff, -1, -1], k * 4);
  }
  add(k: number, from: Int32Array, i: number): void {
    const b = this.b, o = k * 4;
    if (from[i]! < b[o]!) b[o] = from[i]!;
    if (from[i + 1]! < b[o + 1]!) b[o + 1] = from[i + 1]!;
    if (from[i + 2]! > b[o + 2]!) b[o + 2] = from[i + 2]!;
    if (from[i + 3]! > b[o + 3]!) b[o + 3] = from[i + 3]!;
  }
  empty(k = 0): boolean {
    return this.b[k * 4 + 2]! < 0;
  }
  area(k = 0): number {
    const b = this.b, o = k * 4;
    return b[o + 2]! < 0 ? 0 : (b[o + 2]! - b[o]!) * (b[o + 3]! - b[o + 1]!);
  }
  rect(k = 0): Rect {
    const b = this.b, o = k * 4;
    return { x: b[o]!, y: b[o + 1]!, w: b[o + 2]! - b[o]!, h: b[o + 3]! - b[o + 1]! };
  }
  /** Union of all boxes, as a Boxes of one. */
  union(): Boxes {
    const u = new Boxes(1);
    for (let k = 0; k < this.n; k++) if (!this.empty(k)) u.add(0, this.b, k * 4);
    return u;
  }
  /** The cut (between boxes at-1 and at, 1 ≤ at < n) whose two unions have the least area. */
  bestCut(): { at: number; area: number } {
    const n = this.n;
    const suffix = new Boxes(n + 1);
    for (let k = n - 1; k >= 0; k--) {
      suffix.b.copyWithin(k * 4, (k + 1) * 4, (k + 2) * 4);
      if (!this.empty(k)) suffix.add(k, this.b, k * 4);
    }
    const prefix = new Boxes(1);
    let best = { at: 0, area: Infinity };
    for (let at = 1; at < n; at++) {
      if (!this.empty(at - 1)) prefix.add(0, this.b, (at - 1) * 4);
      const area = prefix.area() + suffix.area(at);
      if (area < best.area) best = { at, area };
    }
    return best;
  }
}

/**
 * Where the changed pixels of each tile are: per tile x0, y0, x1, y1, tile-local, x1/y1 exclusive
 * (the layout of a capture's `bounds`). All 0 = none known: a marked tile without bounds is whole.
 *
 * A session keeps one TileBounds parallel to its pending bitmap, with the invariant "a tile not
 * pending has no bounds", and lets it set the pending bits that it knows bounds for:
 *   new surface:               pending = grid.newBitmap(fill); bounds = new TileBounds(grid)
 *                              (fill 1: every tile pending, whole — no bounds)
 *   'damage' (bitmap, moves, captureBounds):
 *                              bounds.addDamage(pending, bitmap, captureBounds)  — it ORs bitmap into
 *                              pending; call it before anything else sets those bits
 *   any markRect into pending: grid.markRect(pending, r, bounds)  (exact: grows bounds by r)
 *   bits set directly (pending[i] = 1, pending.fill(1)): fine while the invariant holds — those
 *                              tiles have no bounds, so they count as whole
 *   encoding:                  grid.toRects(pending, area, bounds[, RECT_COST_RAW for Raw])
 *   after clearing pending bits (sent, filled by a CopyRect): bounds.forgetUnmarked(pending)
 * Never set a pending bit without the bounds when the tile may already be pending with bounds:
 * its new pixels would fall outside them.
 */
export class TileBounds {
  /** 4 entries per tile, as described above (16-bit: tile sizes up to 256 and beyond fit). */
  readonly data: Uint16Array;
  constructor(readonly grid: TileGrid) {
    this.data = new Uint16Array(grid.count * 4);
  }

  /**
   * ORs `damage` (a bitmap of this grid) into `pending` and grows the bounds of its tiles by a
   * capture's `bounds` (4 bytes per tile; absent, of another grid, or all 0 for a tile: whole
   * tiles). Damage of another grid makes every tile pending and whole.
   */
  addDamage(pending: Uint8Array, damage: Uint8Array, bounds?: Uint8Array): void {
    if (damage.length !== pending.length) {
      pending.fill(1);
      this.data.fill(0);
      return;
    }
    const b = bounds && bounds.length === damage.length * 4 ? bounds : undefined;
    for (let i = 0; i < damage.length; i++) {
      if (!damage[i]) continue;
      if (b && b[i * 4 + 2]! > b[i * 4]! && b[i * 4 + 3]! > b[i * 4 + 1]!) {
        this.grow(pending, i, b[i * 4]!, b[i * 4 + 1]!, b[i * 4 + 2]!, b[i * 4 + 3]!);
      } else {
        this.makeWhole(pending, i);
      }
    }
  }

  /** Marks `r` (clipped to the surface) in `pending`, growing each touched tile's bounds by exactly `r`. */
  addRect(pending: Uint8Array, r: Rect): void {
    const g = this.grid, t = g.tileSize;
    const x0 = Math.max(0, r.x), y0 = Math.max(0, r.y);
    const x1 = Math.min(g.width, r.x + r.w), y1 = Math.min(g.height, r.y + r.h);
    if (x1 <= x0 || y1 <= y0) return;
    for (let ty = Math.floor(y0 / t); ty <= Math.floor((y1 - 1) / t); ty++) {
      const oy = ty * t;
      for (let tx = Math.floor(x0 / t); tx <= Math.floor((x1 - 1) / t); tx++) {
        const ox = tx * t;
        this.grow(pending, ty * g.tilesX + tx, Math.max(x0, ox) - ox, Math.max(y0, oy) - oy, Math.min(x1, ox + t) - ox, Math.min(y1, oy + t) - oy);
      }
    }
  }

  /** Every tile pending, whole. */
  markAll(pending: Uint8Array): void {
    pending.fill(1);
    this.data.fill(0);
  }

  /** Drops the bounds of tiles no longer pending (keeps the invariant after bits were cleared). */
  forgetUnmarked(pending: Uint8Array): void {
    const d = this.data;
    for (let i = 0; i < pending.length; i++) {
      if (!pending[i] && d[i * 4 + 2] !== 0) d[i * 4] = d[i * 4 + 1] = d[i * 4 + 2] = d[i * 4 + 3] = 0;
    }
  }

  /** Tile `i` pending, whole (e.g. a tile the client holds lossy: only all of it sent makes it exact). */
  makeWhole(pending: Uint8Array, i: number): void {
    pending[i] = 1;
    const d = this.data;
    d[i * 4] = d[i * 4 + 1] = d[i * 4 + 2] = d[i * 4 + 3] = 0;
  }

  private grow(pending: Uint8Array, i: number, x0: number, y0: number, x1: number, y1: number): void {
    const d = this.data, k = i * 4;
    if (!pending[i]) {
      pending[i] = 1;
      d[k] = x0; d[k + 1] = y0; d[k + 2] = x1; d[k + 3] = y1;
      return;
    }
    if (d[k + 2]! <= d[k]!) return; // pending without bounds: already whole
    if (x0 < d[k]!) d[k] = x0;
    if (y0 < d[k + 1]!) d[k + 1] = y0;
    if (x1 > d[k + 2]!) d[k + 2] = x1;
    if (y1 > d[k + 3]!) d[k + 3] = y1;
  }
}

export function intersect(a: Rect, b: Rect): Rect | undefined {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : undefined;
}
