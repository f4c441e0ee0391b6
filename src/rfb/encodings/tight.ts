// Tight (7) and TightPNG (−260), rfbproto "Tight Encoding". Each rect is cut into big
// single-colour areas (sent as fills) and pieces of at most 2048 px wide and 64 Ki px; each
// piece goes by its colours, as TigerVNC chooses: 1 → fill, 2 → mono (1 bit per pixel),
// few → palette (1 byte per pixel), many → JPEG when the client asked for a quality level,
// else zlib of the pixels (or, for noise, zlib's stored blocks: deflate would not pay).
// Tight has four zlib streams per connection (here: 0 full colour, 1 mono, 2 palette,
// 3 stored); TightPNG has none and sends PNG instead of basic compression (noVNC).
import { deflateRawSync } from 'node:zlib';
import { native, type NativeZStream } from '../../native.js';
import { TranslatorCache, type PixelFormat, type PixelTranslator } from '../pixel-format.js';
import { DEFAULT_COMPRESS_LEVEL, type EncoderOptions } from './options.js';
import { ColourTable } from './palette.js';
import { rectHeader } from './raw.js';
import { countColours, splitSolidAreas, surfaceWords, type SurfaceWords } from './rect-classifier.js';
import { JpegCompressor, type Subsampling } from './tight-jpeg.js';
import { encodePng } from './tight-png.js';
import type { Encoder, Rect, SurfaceView } from './types.js';

export const ENCODING_TIGHT = 7;
export const ENCODING_TIGHT_PNG = -260;

/** rfbproto: no Tight rect is wider. */
export const TIGHT_MAX_WIDTH = 2048;
/** Pieces are kept to this many pixels (as TigerVNC) so palettes stay local and decoders' buffers small. */
const MAX_AREA = 65536;
/** rfbproto: filtered data shorter than this goes uncompressed. */
const MIN_TO_COMPRESS = 12;

const STREAM_FULL = 0, STREAM_MONO = 1, STREAM_PALETTE = 2, STREAM_STORED = 3;
const CTL_FILL = 0x80, CTL_JPEG = 0x90, CTL_PNG = 0xa0, CTL_READ_FILTER = 0x40;
const FILTER_PALETTE = 1;

/** zlib level for [full colour, mono/palette] data at each compression level 0..9. */
const ZLIB_LEVELS: ReadonlyArray<readonly [number, number]> = [
  [1, 1], [1, 1], [2, 3], [2, 5], [3, 6], [4, 7], [5, 7], [6, 8], [7, 9], [9, 9],
];

/** Compact length (1–3 bytes, 7 bits each but 8 in the third). */
export function compactLength(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x4000) return [(n & 0x7f) | 0x80, n >> 7];
  if (n < 0x400000) return [(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, n >> 14];
  throw new RangeError(`tight: length ${n} does not fit a compact length`);
}

/** rfbproto TPIXEL: R,G,B bytes for 32 bpp depth 24 with 8-bit channels, else a PIXEL. */
export function tpixelIsRgb(pf: PixelFormat): boolean {
  return pf.trueColour && pf.bitsPerPixel === 32 && pf.depth === 24 &&
    pf.redMax === 255 && pf.greenMax === 255 && pf.blueMax === 255;
}

type TPixelWriter = (buf: Uint8Array, off: number, xrgb: number) => number;

function tpixelWriter(tr: PixelTranslator): { bytes: number; write: TPixelWriter } {
  if (tpixelIsRgb(tr.pf)) {
    return {
      bytes: 3,
      write: (buf, off, v) => {
        buf[off] = v >>> 16;
        buf[off + 1] = v >>> 8;
        buf[off + 2] = v;
        return off + 3;
      },
    };
  }
  return { bytes: tr.bytesPerPixel, write: (buf, off, v) => tr.writePixel(buf, off, tr.pixel(v)) };
}

/** Pieces of `r` no wider than TIGHT_MAX_WIDTH and of at most `maxArea` pixels, in rows. */
export function* tightPieces(r: Rect, maxArea = MAX_AREA): Generator<Rect> {
  const pw = Math.min(r.w, TIGHT_MAX_WIDTH);
  const ph = Math.max(1, Math.floor(maxArea / pw));
  for (let y = r.y; y < r.y + r.h; y += ph)
    for (let x = r.x; x < r.x + r.w; x += pw)
      yield { x, y, w: Math.min(pw, r.x + r.w - x), h: Math.min(ph, r.y + r.h - y) };
}

/**
 * Whether deflate would not pay on this data: a level-1 deflate of a few samples saves
 * under 10 %. Costs ~0.1 ms, against ~0.1 ms per 1000 pixels of deflating noise.
 */
function looksIncompressible(data: Buffer): boolean {
  const SAMPLE = 2048;
  if (data.length < 4 * SAMPLE) return false;
  const picks = [0, (data.length >> 1) - SAMPLE / 2, data.length - SAMPLE];
  let before = 0, after = 0;
  for (const p of picks) {
    const part = data.subarray(p, p + SAMPLE);
    before += part.length;
    after += deflateRawSync(part, { level: 1 }).length;
  }
  return after > before * 0.9;
}

interface Context {
  readonly surface: SurfaceView;
  readonly s: SurfaceWords;
  readonly tr: PixelTranslator;
  readonly tp: { bytes: number; write: TPixelWriter };
  readonly out: Buffer[];
}

export class TightEncoder implements Encoder {
  readonly encoding: number;
  /** Send nothing lossy (a refresh of areas that went out as JPEG). */
  lossless = false;
  private compressLevel = DEFAULT_COMPRESS_LEVEL;
  private jpegQuality: number | undefined;
  private subsampling: Subsampling = '420';
  private readonly streams: Array<NativeZStream | undefined> = [undefined, undefined, undefined, undefined];
  private readonly streamLevels = [-1, -1, -1, -1];
  /** Streams re-created since the last rect: the next rect tells the client to reset them. */
  private resets = 0;
  private lossy: Rect[] = [];
  private readonly tables = new Map<number, ColourTable>();
  private readonly translators = new TranslatorCache();
  private readonly jpeg = new JpegCompressor();

  /** `png`: TightPNG (−260), no zlib streams, PNG instead of basic compression. */
  constructor(private readonly png = false, options: EncoderOptions = {}) {
    this.encoding = png ? ENCODING_TIGHT_PNG : ENCODING_TIGHT;
    this.configure(options);
  }

  /** Compression level and JPEG settings from the client's latest SetEncodings. */
  configure(options: EncoderOptions): void {
    this.compressLevel = Math.min(9, Math.max(0, options.compressLevel ?? DEFAULT_COMPRESS_LEVEL));
    this.jpegQuality = options.jpegQuality;
    this.subsampling = options.subsampling ?? '420';
  }

  /** The areas sent as JPEG since the last call (surface coordinates). */
  takeLossyRects(): Rect[] {
    const l = this.lossy;
    this.lossy = [];
    return l;
  }

  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number {
    if (rect.w <= 0 || rect.h <= 0) return 0;
    const tr = this.translators.get(pf);
    const ctx: Context = { surface, s: surfaceWords(surface), tr, tp: tpixelWriter(tr), out };
    const { solid, rest } = splitSolidAreas(ctx.s, rect);
    let n = 0;
    for (const a of solid) {
      for (const piece of tightPieces(a.rect, Infinity)) {
        this.writeFill(ctx, piece, a.colour);
        n++;
      }
    }
    for (const r of rest) {
      for (const piece of tightPieces(r)) {
        this.encodePiece(ctx, piece);
        n++;
      }
    }
    return n;
  }

  private table(max: number): ColourTable {
    let t = this.tables.get(max);
    if (!t) this.tables.set(max, (t = new ColourTable(max)));
    return t;
  }

  private jpegAllowed(pf: PixelFormat): boolean {
    // rfbproto: JPEG only for 16 or 32 bits per pixel, and only when the client asked.
    return this.jpegQuality !== undefined && !this.lossless && pf.bitsPerPixel >= 16;
  }

  private encodePiece(ctx: Context, r: Rect): void {
    const jpeg = this.jpegAllowed(ctx.tr.pf);
    const area = r.w * r.h;
    // With JPEG at hand, photo-like pieces (many colours) go JPEG rather than a big palette.
    const maxColours = jpeg ? (this.compressLevel < 2 ? 24 : 96) : Math.min(256, Math.max(2, area >> 2));
    const table = this.table(maxColours);
    const n = countColours(ctx.s, r, table);
    if (n === 1) return this.writeFill(ctx, r, table.colours[0]!);
    if (n > 0) {
      if (this.png) return this.writePng(ctx, r, table);
      return this.writePalette(ctx, r, table);
    }
    if (jpeg) return this.writeJpeg(ctx, r);
    if (this.png) return this.writePng(ctx, r);
    return this.writeFullColour(ctx, r);
  }

  private stream(id: number): NativeZStream {
    const [full, indexed] = ZLIB_LEVELS[this.compressLevel]!;
    const level = id === STREAM_STORED ? 0 : id === STREAM_FULL ? full : indexed;
    let z = this.streams[id];
    if (!z || this.streamLevels[id] !== level) {
      if (z) this.resets |= 1 << id; // the client's inflater for it starts over too
      z = this.streams[id] = new native.ZStream(level);
      this.streamLevels[id] = level;
    }
    return z;
  }

  private control(bits: number): number {
    const ctl = bits | this.resets;
    this.resets = 0;
    return ctl;
  }

  private writeFill(ctx: Context, r: Rect, colour: number): void {
    const b = Buffer.allocUnsafe(1 + ctx.tp.bytes);
    b[0] = this.control(CTL_FILL);
    ctx.tp.write(b, 1, colour);
    ctx.out.push(rectHeader(r, this.encoding), b);
  }

  private writeJpeg(ctx: Context, r: Rect): void {
    const data = this.jpeg.compress(ctx.surface, r, this.jpegQuality!, this.subsampling);
    ctx.out.push(rectHeader(r, this.encoding), Buffer.from([this.control(CTL_JPEG), ...compactLength(data.length)]), data);
    this.lossy.push(r);
  }

  private writePng(ctx: Context, r: Rect, palette?: ColourTable): void {
    const level = ZLIB_LEVELS[this.compressLevel]![palette ? 1 : 0];
    const data = encodePng(ctx.s, r, level, palette);
    ctx.out.push(rectHeader(r, this.encoding), Buffer.from([this.control(CTL_PNG), ...compactLength(data.length)]), data);
  }

  /** Palette filter: 2 colours as 1 bit per pixel (rows padded to a byte), more as 1 byte. */
  private writePalette(ctx: Context, r: Rect, pal: ColourTable): void {
    const { words, stride } = ctx.s;
    const n = pal.size;
    const mono = n === 2;
    const rowBytes = mono ? (r.w + 7) >> 3 : r.w;
    const data = Buffer.alloc(rowBytes * r.h);
    let o = 0;
    for (let y = r.y; y < r.y + r.h; y++) {
      const row = y * stride;
      if (mono) {
        const c1 = pal.colours[1]!;
        for (let x = 0; x < r.w; x++) if (words[row + r.x + x] === c1) data[o + (x >> 3)]! |= 0x80 >> (x & 7);
        o += rowBytes;
      } else {
        let last = -1, idx = 0;
        for (let i = row + r.x, end = row + r.x + r.w; i < end; i++) {
          const v = words[i]!;
          if (v !== last) {
            last = v;
            idx = pal.indexOf(v);
          }
          data[o++] = idx;
        }
      }
    }
    const head = Buffer.allocUnsafe(3 + n * ctx.tp.bytes + 3);
    let h = 0;
    head[h++] = 0; // control, filled in below
    head[h++] = FILTER_PALETTE;
    head[h++] = n - 1;
    for (let i = 0; i < n; i++) h = ctx.tp.write(head, h, pal.colours[i]!);
    this.writeBasic(ctx, r, mono ? STREAM_MONO : STREAM_PALETTE, CTL_READ_FILTER, head, h, data);
  }

  /** Copy filter: the TPIXELs as they are. */
  private writeFullColour(ctx: Context, r: Rect): void {
    let data: Buffer;
    if (ctx.tp.bytes === 3) {
      const { words, stride } = ctx.s;
      data = Buffer.allocUnsafe(r.w * r.h * 3);
      let o = 0;
      for (let y = r.y; y < r.y + r.h; y++) {
        for (let i = y * stride + r.x, end = i + r.w; i < end; i++) {
          const v = words[i]!;
          data[o++] = v >>> 16;
          data[o++] = v >>> 8;
          data[o++] = v;
        }
      }
    } else {
      data = ctx.tr.translateRect(ctx.surface, r);
    }
    const head = Buffer.allocUnsafe(4);
    this.writeBasic(ctx, r, looksIncompressible(data) ? STREAM_STORED : STREAM_FULL, 0, head, 1, data);
  }

  /**
   * Basic compression: `head[0..headLen)` with head[0] the control byte to fill in, then the
   * data, through zlib stream `id` unless it is under 12 bytes (then as it is).
   */
  private writeBasic(ctx: Context, r: Rect, id: number, bits: number, head: Buffer, headLen: number, data: Buffer): void {
    if (data.length < MIN_TO_COMPRESS) {
      head[0] = this.control((id << 4) | bits);
      ctx.out.push(rectHeader(r, this.encoding), head.subarray(0, headLen), data);
      return;
    }
    const z = this.stream(id).deflate(data);
    head[0] = this.control((id << 4) | bits);
    for (const b of compactLength(z.length)) head[headLen++] = b;
    ctx.out.push(rectHeader(r, this.encoding), head.subarray(0, headLen), z);
  }
}
