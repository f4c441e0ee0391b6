// RRE (2): a background colour plus solid subrectangles. Background = the most common
// colour; subrectangles are the horizontal runs of other colours, merged downwards when
// the run below has the same x, width and colour. When that would be bigger than Raw, the
// rect goes out as Raw instead (every client must accept Raw).
import { TranslatorCache, type PixelFormat } from '../pixel-format.js';
import { ColourTable } from './palette.js';
import { ENCODING_RAW, rectHeader } from './raw.js';
import type { Encoder, Rect, SurfaceView } from './types.js';

export const ENCODING_RRE = 2;

/** Distinct colours counted when picking the background; later new colours are not counted. */
const COUNTED_COLOURS = 4096;

export class RreEncoder implements Encoder {
  readonly encoding = ENCODING_RRE;
  private readonly translators = new TranslatorCache();
  private readonly table = new ColourTable(COUNTED_COLOURS);
  // Subrectangles found so far (x, y, w, h, colour), grown on demand.
  private sx = new Int32Array(256);
  private sy = new Int32Array(256);
  private sw = new Int32Array(256);
  private sh = new Int32Array(256);
  private sc = new Uint32Array(256);
  // For each x: the subrectangle whose last row started a run at x, and that row.
  private openIdx = new Int32Array(0);
  private openRow = new Int32Array(0);

  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number {
    const { w, h } = rect;
    if (w <= 0 || h <= 0) return 0;
    const tr = this.translators.get(pf);
    const bpp = tr.bytesPerPixel;
    const vals = tr.translateValues(surface, rect);
    const n = w * h;

    const table = this.table;
    table.clear();
    for (let i = 0; i < n; ) {
      const c = vals[i]!;
      let e = i + 1;
      while (e < n && vals[e] === c) e++;
      table.add(c, e - i);
      i = e;
    }
    const bg = table.colours[table.mostCommon()]!;

    const rawBytes = n * bpp;
    const subBytes = bpp + 8;
    const maxSub = Math.floor((rawBytes - 4 - bpp) / subBytes);
    const count = maxSub < 0 ? -1 : this.findSubrects(vals, w, h, bg, maxSub);
    if (count < 0) {
      out.push(rectHeader(rect, ENCODING_RAW), tr.translateRect(surface, rect));
      return 1;
    }

    const body = Buffer.allocUnsafe(4 + bpp + count * subBytes);
    body.writeUInt32BE(count, 0);
    let off = tr.writePixel(body, 4, bg);
    const { sx, sy, sw, sh, sc } = this;
    for (let i = 0; i < count; i++) {
      off = tr.writePixel(body, off, sc[i]!);
      body.writeUInt16BE(sx[i]!, off);
      body.writeUInt16BE(sy[i]!, off + 2);
      body.writeUInt16BE(sw[i]!, off + 4);
      body.writeUInt16BE(sh[i]!, off + 6);
      off += 8;
    }
    out.push(rectHeader(rect, ENCODING_RRE), body);
    return 1;
  }

  /** Fill the subrect arrays; returns their count, or −1 when more than maxSub are needed. */
  private findSubrects(vals: Uint32Array, w: number, h: number, bg: number, maxSub: number): number {
    if (this.openIdx.length < w) {
      this.openIdx = new Int32Array(w);
      this.openRow = new Int32Array(w);
    }
    const openIdx = this.openIdx;
    const openRow = this.openRow;
    openRow.fill(-2, 0, w);
    let count = 0;
    for (let y = 0; y < h; y++) {
      const row = y * w;
      let x = 0;
      while (x < w) {
        const c = vals[row + x]!;
        let e = x + 1;
        while (e < w && vals[row + e] === c) e++;
        if (c !== bg) {
          const len = e - x;
          let idx = openRow[x] === y - 1 ? openIdx[x]! : -1;
          if (idx >= 0 && this.sw[idx] === len && this.sc[idx] === c) {
            this.sh[idx]!++;
          } else {
            if (count === maxSub) return -1;
            idx = count++;
            if (idx === this.sx.length) this.grow();
            this.sx[idx] = x;
            this.sy[idx] = y;
            this.sw[idx] = len;
            this.sh[idx] = 1;
            this.sc[idx] = c;
          }
          openIdx[x] = idx;
          openRow[x] = y;
        }
        x = e;
      }
    }
    return count;
  }

  private grow(): void {
    const n = this.sx.length * 2;
    const g = <T extends Int32Array | Uint32Array>(a: T, b: T): T => (b.set(a), b);
    this.sx = g(this.sx, new Int32Array(n));
    this.sy = g(this.sy, new Int32Array(n));
    this.sw = g(this.sw, new Int32Array(n));
    this.sh = g(this.sh, new Int32Array(n));
    this.sc = g(this.sc, new Uint32Array(n));
  }
}
