// ZRLE (16): 64×64 tiles, each raw, solid, packed-palette, plain RLE or palette RLE
// (whichever is smallest), pixels as CPIXELs; all of a rect's tile data goes through the
// connection's one zlib stream (Z_SYNC_FLUSH). Body: u32 BE length + zlib bytes.
// The encoder runs natively (native/zrle_encoder.cc: tiles in bands on both cores, then the
// deflate, off the JS thread for batches). ZrleTileEncoder below is the same tile encoder in
// TypeScript: the reference the native one is tested against (identical bytes) and the
// baseline of bench/zrle.ts.
import { native, type NativeZStream } from '../../native.js';
import { TranslatorCache, cpixelLayout, type PixelFormat, type PixelTranslator } from '../pixel-format.js';
import { ColourTable } from './palette.js';
import { pixelCount, type BatchEncoder, type EncodedRects, type Rect, type SurfaceView } from './types.js';

export const ENCODING_ZRLE = 16;

/** Batches of fewer pixels (four 64×64 tiles) are encoded on the JS thread. */
export const ZRLE_ASYNC_MIN_PIXELS = 4 * 64 * 64;

const TILE = 64;
const SUB_RAW = 0;
const SUB_SOLID = 1;
const SUB_PLAIN_RLE = 128;
/** Palette RLE is 128 + palette size, for sizes 2..127. */
const MAX_RLE_PALETTE = 127;
const MAX_PACKED_PALETTE = 16;

type CPixelWriter = (buf: Uint8Array, off: number, v: number) => number;

function cpixelWriter(tr: PixelTranslator): { bytes: number; write: CPixelWriter } {
  const { bytes, msb } = cpixelLayout(tr.pf);
  if (bytes !== 3) return { bytes, write: (buf, off, v) => tr.writePixel(buf, off, v) };
  const shift = msb ? 8 : 0;
  const write: CPixelWriter = tr.pf.bigEndian
    ? (buf, off, v) => {
        v >>>= shift;
        buf[off] = v >>> 16;
        buf[off + 1] = v >>> 8;
        buf[off + 2] = v;
        return off + 3;
      }
    : (buf, off, v) => {
        v >>>= shift;
        buf[off] = v;
        buf[off + 1] = v >>> 8;
        buf[off + 2] = v >>> 16;
        return off + 3;
      };
  return { bytes, write };
}

/** Bytes a run length takes: (len − 1) as 255, 255, …, remainder. */
function runLengthBytes(len: number): number {
  return Math.floor((len - 1) / 255) + 1;
}

export class ZrleEncoder implements BatchEncoder {
  readonly encoding = ENCODING_ZRLE;
  private readonly zstream: NativeZStream;

  /** One per connection: the zlib stream continues across rects (sync and batch alike). */
  constructor(zstream?: NativeZStream, level = 6) {
    this.zstream = zstream ?? new native.ZStream(level);
  }

  /** On the calling thread (still both cores for big rects). */
  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number {
    if (rect.w <= 0 || rect.h <= 0) return 0;
    out.push(native.zrleEncodeSync(this.zstream, surface, [rect], pf));
    return 1;
  }

  /**
   * Every rect off the JS thread (small batches on it: a pool round trip costs more), one
   * zlib chunk per rect.
   */
  encodeBatch(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat): Promise<EncodedRects> {
    if (pixelCount(rects) < ZRLE_ASYNC_MIN_PIXELS) {
      try {
        return Promise.resolve(splitZrleRects(native.zrleEncodeSync(this.zstream, surface, rects, pf)));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return native.zrleEncode(this.zstream, surface, rects, pf).then((buf) => splitZrleRects(buf));
  }
}

/**
 * ZRLE tile data (before zlib) in TypeScript: the reference for the native encoder, which
 * makes the same choices byte for byte.
 */
export class ZrleTileEncoder {
  private readonly translators = new TranslatorCache();
  private readonly palette = new ColourTable(MAX_RLE_PALETTE);
  private cpx: { tr: PixelTranslator; bytes: number; write: CPixelWriter } | undefined;
  private scratch = Buffer.allocUnsafe(64 * 1024);

  /** The rect's tiles, uncompressed (a view of scratch memory: valid until the next call). */
  encodeTiles(surface: SurfaceView, rect: Rect, pf: PixelFormat): Buffer {
    const { w, h } = rect;
    if (w <= 0 || h <= 0) return Buffer.alloc(0);
    const tr = this.translators.get(pf);
    if (this.cpx?.tr !== tr) this.cpx = { tr, ...cpixelWriter(tr) };
    const vals = tr.translateValues(surface, rect);
    const worstTile = 1 + TILE * TILE * 4;

    let off = 0;
    for (let ty = 0; ty < h; ty += TILE) {
      const th = Math.min(TILE, h - ty);
      for (let tx = 0; tx < w; tx += TILE) {
        const tw = Math.min(TILE, w - tx);
        if (this.scratch.length < off + worstTile) {
          const bigger = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, off + worstTile));
          this.scratch.copy(bigger, 0, 0, off);
          this.scratch = bigger;
        }
        off = this.encodeTile(vals, ty * w + tx, w, tw, th, this.scratch, off);
      }
    }
    return this.scratch.subarray(0, off);
  }

  private encodeTile(
    vals: Uint32Array, base: number, stride: number, tw: number, th: number, buf: Buffer, off: number,
  ): number {
    const { bytes: cp, write } = this.cpx!;
    const pal = this.palette;
    pal.clear();

    // One pass over the runs (which continue across rows): palette and RLE costs.
    let overflow = false;
    let plainRle = 0; // bytes of plain RLE runs
    let paletteRle = 0; // bytes of palette RLE runs (without the palette)
    let prev = vals[base]!;
    let run = 0;
    for (let y = 0; y < th; y++) {
      const row = base + y * stride;
      for (let x = 0; x < tw; x++) {
        const v = vals[row + x]!;
        if (v === prev) {
          run++;
          continue;
        }
        const rl = runLengthBytes(run);
        plainRle += cp + rl;
        paletteRle += run === 1 ? 1 : 1 + rl;
        if (!overflow && pal.add(prev, run) < 0) overflow = true;
        prev = v;
        run = 1;
      }
    }
    const rl = runLengthBytes(run);
    plainRle += cp + rl;
    paletteRle += run === 1 ? 1 : 1 + rl;
    if (!overflow && pal.add(prev, run) < 0) overflow = true;

    const n = pal.size;
    if (!overflow && n === 1) {
      buf[off++] = SUB_SOLID;
      return write(buf, off, prev);
    }

    // Pick the smallest representation.
    let best = SUB_RAW;
    let bestSize = tw * th * cp;
    if (plainRle < bestSize) {
      best = SUB_PLAIN_RLE;
      bestSize = plainRle;
    }
    const bits = n <= 2 ? 1 : n <= 4 ? 2 : 4;
    if (!overflow && n <= MAX_PACKED_PALETTE) {
      const packed = n * cp + th * ((tw * bits + 7) >> 3);
      if (packed <= bestSize) {
        best = n;
        bestSize = packed;
      }
    }
    if (!overflow && n * cp + paletteRle < bestSize) best = 128 + n;

    buf[off++] = best;
    if (best === SUB_RAW) {
      for (let y = 0; y < th; y++) {
        const row = base + y * stride;
        for (let x = 0; x < tw; x++) off = write(buf, off, vals[row + x]!);
      }
      return off;
    }
    if (best === SUB_PLAIN_RLE) return this.writeRuns(vals, base, stride, tw, th, buf, off, false);
    for (let i = 0; i < n; i++) off = write(buf, off, pal.colours[i]!);
    if (best > 128) return this.writeRuns(vals, base, stride, tw, th, buf, off, true);

    // Packed palette: indices MSB first, each row padded to a byte.
    for (let y = 0; y < th; y++) {
      const row = base + y * stride;
      let acc = 0;
      let nbits = 0;
      let lastV = vals[row]!;
      let lastI = pal.indexOf(lastV);
      for (let x = 0; x < tw; x++) {
        const v = vals[row + x]!;
        if (v !== lastV) {
          lastV = v;
          lastI = pal.indexOf(v);
        }
        acc = (acc << bits) | lastI;
        nbits += bits;
        if (nbits === 8) {
          buf[off++] = acc;
          acc = 0;
          nbits = 0;
        }
      }
      if (nbits > 0) buf[off++] = acc << (8 - nbits);
    }
    return off;
  }

  /** Plain RLE (CPIXEL + length) or palette RLE (index, | 128 + length when the run is > 1). */
  private writeRuns(
    vals: Uint32Array, base: number, stride: number, tw: number, th: number, buf: Buffer, off: number,
    usePalette: boolean,
  ): number {
    let prev = vals[base]!;
    let run = 0;
    for (let y = 0; y < th; y++) {
      const row = base + y * stride;
      for (let x = 0; x < tw; x++) {
        const v = vals[row + x]!;
        if (v === prev) {
          run++;
          continue;
        }
        off = this.writeRun(buf, off, prev, run, usePalette);
        prev = v;
        run = 1;
      }
    }
    return this.writeRun(buf, off, prev, run, usePalette);
  }

  private writeRun(buf: Buffer, off: number, c: number, run: number, usePalette: boolean): number {
    if (usePalette) {
      const idx = this.palette.indexOf(c);
      if (run === 1) {
        buf[off] = idx;
        return off + 1;
      }
      buf[off++] = idx | 128;
    } else {
      off = this.cpx!.write(buf, off, c);
    }
    let r = run - 1;
    while (r >= 255) {
      buf[off++] = 255;
      r -= 255;
    }
    buf[off++] = r;
    return off;
  }
}

/**
 * The batch's one Buffer cut into one entry per rectangle (views, no copies; each is a 12-byte
 * header, a u32 length and that many zlib bytes): a session that must split an update of more
 * than 65534 rectangles cuts between entries.
 */
function splitZrleRects(buf: Buffer): EncodedRects {
  const out: EncodedRects = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new Error('zrle batch ends inside a rectangle header');
    const end = off + 16 + buf.readUInt32BE(off + 12);
    if (end > buf.length) throw new Error('zrle batch ends inside a rectangle');
    out.push([buf.subarray(off, end)]);
    off = end;
  }
  return out;
}
