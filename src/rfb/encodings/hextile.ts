// Hextile (5): 16×16 tiles, each raw or a background plus subrectangles.
// Carry-over rule (rfbproto): a tile may leave its background / foreground unspecified to
// reuse the previous tile's, except that a Raw tile leaves both undefined and a
// SubrectsColoured tile leaves the foreground undefined. `bgValid` / `fgValid` track that.
import { TranslatorCache, type PixelFormat, type PixelTranslator } from '../pixel-format.js';
import { ColourTable } from './palette.js';
import { rectHeader } from './raw.js';
import type { Encoder, Rect, SurfaceView } from './types.js';

export const ENCODING_HEXTILE = 5;

export const HEXTILE_RAW = 1;
export const HEXTILE_BACKGROUND_SPECIFIED = 2;
export const HEXTILE_FOREGROUND_SPECIFIED = 4;
export const HEXTILE_ANY_SUBRECTS = 8;
export const HEXTILE_SUBRECTS_COLOURED = 16;

const TILE = 16;

export class HextileEncoder implements Encoder {
  readonly encoding = ENCODING_HEXTILE;
  private readonly translators = new TranslatorCache();
  private readonly table = new ColourTable(TILE * TILE);
  private readonly cornersOf = new Uint16Array(TILE * TILE);
  private readonly covered = new Uint8Array(TILE * TILE);
  // Subrects of the current tile: packed x<<4|y, (w−1)<<4|(h−1), colour.
  private readonly subXY = new Uint8Array(TILE * TILE);
  private readonly subWH = new Uint8Array(TILE * TILE);
  private readonly subC = new Uint32Array(TILE * TILE);
  private scratch = Buffer.allocUnsafe(0);

  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number {
    const { w, h } = rect;
    if (w <= 0 || h <= 0) return 0;
    const tr = this.translators.get(pf);
    const bpp = tr.bytesPerPixel;
    const vals = tr.translateValues(surface, rect);
    const tiles = Math.ceil(w / TILE) * Math.ceil(h / TILE);
    const bound = tiles + w * h * bpp; // every tile raw
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafe(bound);
    const buf = this.scratch;

    let off = 0;
    let bg = 0, fg = 0, bgValid = false, fgValid = false;
    for (let ty = 0; ty < h; ty += TILE) {
      const th = Math.min(TILE, h - ty);
      for (let tx = 0; tx < w; tx += TILE) {
        const tw = Math.min(TILE, w - tx);
        const base = ty * w + tx;

        // Classify: one colour, two colours, or more.
        const c0 = vals[base]!;
        let c1 = 0, n0 = 0, n1 = 0, many = false;
        scan: for (let y = 0; y < th; y++) {
          const row = base + y * w;
          for (let x = 0; x < tw; x++) {
            const v = vals[row + x]!;
            if (v === c0) n0++;
            else if (n1 === 0) { c1 = v; n1 = 1; }
            else if (v === c1) n1++;
            else { many = true; break scan; }
          }
        }

        if (!many && n1 === 0) {
          // Solid tile.
          if (bgValid && bg === c0) buf[off++] = 0;
          else {
            buf[off++] = HEXTILE_BACKGROUND_SPECIFIED;
            off = tr.writePixel(buf, off, c0);
            bg = c0;
            bgValid = true;
          }
          continue;
        }

        const rawSize = 1 + tw * th * bpp;
        let tileBg: number;
        // A lower bound on the subrects needed: pixels that differ from their left and
        // upper neighbours each start one (noise goes straight to raw).
        let minSubs = 0;
        if (!many) tileBg = n0 >= n1 ? c0 : c1;
        else {
          const corners = this.countColours(vals, base, w, tw, th);
          const bgIdx = this.table.mostCommon();
          tileBg = this.table.colours[bgIdx]!;
          minSubs = corners - this.cornersOf[bgIdx]!;
        }
        const bgSpec = !(bgValid && bg === tileBg);
        let size = 2 + (bgSpec ? bpp : 0);
        let mask = HEXTILE_ANY_SUBRECTS | (bgSpec ? HEXTILE_BACKGROUND_SPECIFIED : 0);
        let per: number;
        const tileFg = many ? 0 : tileBg === c0 ? c1 : c0;
        if (many) {
          mask |= HEXTILE_SUBRECTS_COLOURED;
          per = 2 + bpp;
        } else {
          per = 2;
          if (!(fgValid && fg === tileFg)) {
            mask |= HEXTILE_FOREGROUND_SPECIFIED;
            size += bpp;
          }
        }
        const maxSubs = Math.min(255, Math.floor((rawSize - 1 - size) / per));
        const n = maxSubs > 0 && minSubs <= maxSubs ? this.findSubrects(vals, base, w, tw, th, tileBg, maxSubs) : -1;
        if (n < 0) {
          buf[off++] = HEXTILE_RAW;
          for (let y = 0; y < th; y++) off = tr.writeValues(vals, base + y * w, tw, buf, off);
          bgValid = fgValid = false;
          continue;
        }
        off = this.writeSubrectTile(tr, buf, off, mask, tileBg, tileFg, n);
        bg = tileBg;
        bgValid = true;
        if (many) fgValid = false;
        else {
          fg = tileFg;
          fgValid = true;
        }
      }
    }
    out.push(rectHeader(rect, ENCODING_HEXTILE), Buffer.from(buf.subarray(0, off)));
    return 1;
  }

  /** Fill `table` with the tile's colours; count corner pixels per colour; return all corners. */
  private countColours(vals: Uint32Array, base: number, stride: number, tw: number, th: number): number {
    const t = this.table;
    const cornersOf = this.cornersOf;
    t.clear();
    cornersOf.fill(0);
    let corners = 0;
    let last = -1, lastIdx = -1;
    for (let y = 0; y < th; y++) {
      const row = base + y * stride;
      for (let x = 0; x < tw; x++) {
        const v = vals[row + x]!;
        let idx: number;
        if (v === last) {
          idx = lastIdx;
          t.counts[idx]!++;
        } else {
          idx = lastIdx = t.add(v, 1);
          last = v;
        }
        if ((x === 0 || vals[row + x - 1] !== v) && (y === 0 || vals[row - stride + x] !== v)) {
          cornersOf[idx]!++;
          corners++;
        }
      }
    }
    return corners;
  }

  private writeSubrectTile(
    tr: PixelTranslator, buf: Buffer, off: number, mask: number, bg: number, fg: number, n: number,
  ): number {
    buf[off++] = mask;
    if (mask & HEXTILE_BACKGROUND_SPECIFIED) off = tr.writePixel(buf, off, bg);
    if (mask & HEXTILE_FOREGROUND_SPECIFIED) off = tr.writePixel(buf, off, fg);
    buf[off++] = n;
    const coloured = (mask & HEXTILE_SUBRECTS_COLOURED) !== 0;
    for (let i = 0; i < n; i++) {
      if (coloured) off = tr.writePixel(buf, off, this.subC[i]!);
      buf[off++] = this.subXY[i]!;
      buf[off++] = this.subWH[i]!;
    }
    return off;
  }

  /**
   * Cover the tile's non-background pixels with solid rectangles (grow right, then down).
   * Returns their count, or −1 when more than maxSubs would be needed.
   */
  private findSubrects(
    vals: Uint32Array, base: number, stride: number, tw: number, th: number, bg: number, maxSubs: number,
  ): number {
    const covered = this.covered;
    covered.fill(0);
    let n = 0;
    for (let y = 0; y < th; y++) {
      const row = base + y * stride;
      for (let x = 0; x < tw; x++) {
        const v = vals[row + x]!;
        if (v === bg || covered[y * TILE + x]) continue;
        let x2 = x + 1;
        while (x2 < tw && vals[row + x2] === v && !covered[y * TILE + x2]) x2++;
        let y2 = y + 1;
        grow: for (; y2 < th; y2++) {
          const r2 = base + y2 * stride;
          for (let i = x; i < x2; i++) if (vals[r2 + i] !== v || covered[y2 * TILE + i]) break grow;
        }
        if (n === maxSubs) return -1;
        for (let yy = y; yy < y2; yy++) covered.fill(1, yy * TILE + x, yy * TILE + x2);
        this.subXY[n] = (x << 4) | y;
        this.subWH[n] = ((x2 - x - 1) << 4) | (y2 - y - 1);
        this.subC[n] = v;
        n++;
        x = x2 - 1;
      }
    }
    return n;
  }
}
