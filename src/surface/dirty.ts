// Dirty-tile bitmaps: one byte per tile, row-major. Sessions OR new damage into their own
// bitmap (coalescing: a slow client's pending region never grows past one frame).
import type { Rect } from '../rfb/encodings/types.js';

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
  /** Mark every tile that touches `r` (clipped to the surface). */
  markRect(bitmap: Uint8Array, r: Rect): void {
    const x0 = Math.max(0, r.x), y0 = Math.max(0, r.y);
    const x1 = Math.min(this.width, r.x + r.w), y1 = Math.min(this.height, r.y + r.h);
    if (x1 <= x0 || y1 <= y0) return;
    const t = this.tileSize;
    for (let ty = Math.floor(y0 / t); ty <= Math.floor((y1 - 1) / t); ty++)
      for (let tx = Math.floor(x0 / t); tx <= Math.floor((x1 - 1) / t); tx++) bitmap[ty * this.tilesX + tx] = 1;
  }
  /**
   * Rectangles covering exactly the marked tiles of `bitmap` that intersect `clip`:
   * horizontal runs per tile row, merged downwards while the run is identical.
   */
  toRects(bitmap: Uint8Array, clip: Rect = { x: 0, y: 0, w: this.width, h: this.height }): Rect[] {
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
      const s = intersect(c ?? r, { x: 0, y: 0, w: this.width, h: this.height });
      if (c && s) result.push(s);
    }
    return result;
  }
}

export function intersect(a: Rect, b: Rect): Rect | undefined {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : undefined;
}
