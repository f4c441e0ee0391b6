// Tight (7) and TightPNG (−260), rfbproto "Tight Encoding". Each rect is cut into big
// single-colour areas (sent as fills) and pieces of at most 2048 px wide and 64 Ki px; each
// piece goes by its colours, as TigerVNC chooses: 1 → fill, 2 → mono (1 bit per pixel),
// few → palette (1 byte per pixel), many → JPEG when the client asked for a quality level
// (neighbouring JPEG pieces merged into one rect per core where decoders allow), else zlib of the pixels, gradient-filtered when the client may take it (or, for noise,
// zlib's stored blocks: deflate would not pay). Tight has four zlib streams per connection
// (here: 0 full colour, 1 mono, 2 palette, 3 stored); TightPNG has none and sends PNG
// instead of basic compression (noVNC). encode() does it all at once; encodeBatch() decides
// every rect first on the JS thread, then makes JPEGs, filters and deflates off it.
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { deflate, deflateSync } from 'node:zlib';
import { native, type NativeZStream, type TightFilterJob, type TightStreamJob } from '../../native.js';
import { TranslatorCache, type PixelFormat, type PixelTranslator } from '../pixel-format.js';
import { DEFAULT_COMPRESS_LEVEL, type EncoderOptions } from './options.js';
import { ColourTable } from './palette.js';
import { rectHeader } from './raw.js';
import { countColours, splitSolidAreas, surfaceWords, type SurfaceWords } from './rect-classifier.js';
import { JpegCompressor, type Subsampling } from './tight-jpeg.js';
import { pngFile, pngPalette, pngScanlines } from './tight-png.js';
import { pixelCount, type BatchEncoder, type Rect, type SurfaceView } from './types.js';

export const ENCODING_TIGHT = 7;
export const ENCODING_TIGHT_PNG = -260;

/** rfbproto: no Tight rect is wider. */
export const TIGHT_MAX_WIDTH = 2048;
/** Pieces are kept to this many pixels (as TigerVNC) so palettes stay local and decoders' buffers small (JPEG: see bigJpegFormat). */
const MAX_AREA = 65536;
/** Batches of fewer pixels (four 64×64 tiles, as ZRLE) are encoded on the JS thread. */
export const TIGHT_ASYNC_MIN_PIXELS = 4 * 64 * 64;

/** rfbproto: filtered data shorter than this goes uncompressed. */
const MIN_TO_COMPRESS = 12;

const STREAM_FULL = 0, STREAM_MONO = 1, STREAM_PALETTE = 2, STREAM_STORED = 3;
const CTL_FILL = 0x80, CTL_JPEG = 0x90, CTL_PNG = 0xa0, CTL_READ_FILTER = 0x40;
const FILTER_COPY = 0, FILTER_PALETTE = 1, FILTER_GRADIENT = 2 as const;
/** tightDeflateAsync's "copy or gradient, whichever a sample deflates smaller" (not on the wire). */
const FILTER_CHOOSE = 3;

const deflateAsync = promisify(deflate);

/** zlib level for [full colour, mono/palette] data at each compression level 0..9. */
const ZLIB_LEVELS: ReadonlyArray<readonly [number, number]> = [
  [1, 1], [1, 1], [2, 3], [2, 5], [3, 6], [4, 7], [5, 7], [6, 8], [7, 9], [9, 9],
];
/**
 * zlib level for gradient-filtered data at each compression level. bench/tight.ts, 1080p
 * plasma: level 1 gives 5 % more bytes than level 2 (libvncclient's default compression
 * level 3 maps to 2) in 0.66× the time, so 1 up to compression level 3.
 */
const GRADIENT_ZLIB_LEVELS: readonly number[] = [1, 1, 1, 1, 2, 3, 4, 5, 6, 9];
/**
 * Gradient only when its sample deflates to at most this share of the copy filter's (the native
 * chooser's kGradientMustSave, tight_filter.cc: small samples flatter gradient, and it costs the
 * viewer a pass over every pixel).
 */
const GRADIENT_MUST_SAVE = 0.8;

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

/**
 * Pieces of `r` no wider than TIGHT_MAX_WIDTH and of at most `maxArea` pixels, in rows; with
 * `align`, the piece height is rounded down to a multiple of it when it is at least that tall.
 */
export function* tightPieces(r: Rect, maxArea = MAX_AREA, align = 1): Generator<Rect> {
  const pw = Math.min(r.w, TIGHT_MAX_WIDTH);
  let ph = Math.max(1, Math.floor(maxArea / pw));
  if (align > 1 && ph >= align) ph -= ph % align;
  for (let y = r.y; y < r.y + r.h; y += ph)
    for (let x = r.x; x < r.x + r.w; x += pw)
      yield { x, y, w: Math.min(pw, r.x + r.w - x), h: Math.min(ph, r.y + r.h - y) };
}

/**
 * JPEG rects are cut at multiples of this many rows: the biggest MCU height (4:2:0). A piece
 * ending mid-MCU is padded by libjpeg: 1080p cut at 34 rows costs 12–19 % more bytes and
 * 25 % more time than at 32 (bench/tight.ts).
 */
const JPEG_ROW_ALIGN = 16;
/**
 * Many-colour pieces next to each other go as one JPEG rect, cut only into as many parts as
 * there are cores (and parts of at least this many pixels): one libjpeg call per part, not one
 * per 64 Ki pixels (fewer thread hand-offs, headers and MCU seams).
 */
const JPEG_MIN_PART = 65536;
/** No JPEG rect bigger (keeps the compressed size far below what a compact length holds at usual qualities). */
const JPEG_MAX_PART = 2048 * 512;
/** rfbproto: the largest compact length. A JPEG bigger than this is sent as two halves. */
const MAX_COMPACT_LENGTH = 0x3fffff;

/**
 * Whether the client's decoders take JPEG rects of more than 64 Ki pixels in this format.
 * TigerVNC's viewer, noVNC and gtk-vnc take any height (TigerVNC: width ≤ 2048); libvncclient
 * decodes straight into its framebuffer for these 32 bpp layouts but through a 640×480-byte
 * buffer for any other (16 bpp, odd shifts), so those keep Tight's 64 Ki-pixel pieces.
 */
function bigJpegFormat(pf: PixelFormat): boolean {
  if (!tpixelIsRgb(pf)) return false;
  const shifts = `${pf.redShift},${pf.greenShift},${pf.blueShift}`;
  return ['16,8,0', '0,8,16', '24,16,8', '8,16,24'].includes(shifts);
}

/** Filtered data at least this big is sampled before choosing its filter and stream (smaller: too little to tell). */
const SAMPLE_MIN_BYTES = 8192;
/** A sample deflating to more than this fraction of its size: deflate would not pay (noise). */
const INCOMPRESSIBLE_RATIO = 0.9;

/**
 * Whether full-colour pieces may use the gradient filter in this pixel format. 24-bit
 * TPIXELs and little-endian 16/32 bpp formats: libvncclient reads a non-TPIXEL residual in
 * its host's byte order (wrong for big-endian formats), and 8 bpp gains nothing (TightVNC's
 * server never used it there either).
 */
function gradientFormat(pf: PixelFormat): boolean {
  return tpixelIsRgb(pf) || (pf.trueColour && !pf.bigEndian && pf.bitsPerPixel >= 16);
}

/** The client pixel format as the native filter wants it (undefined: 24-bit TPIXELs from the surface). */
function filterFormat(pf: PixelFormat): TightFilterJob['format'] {
  if (tpixelIsRgb(pf)) return undefined;
  const { bitsPerPixel, bigEndian, redMax, greenMax, blueMax, redShift, greenShift, blueShift } = pf;
  return { bitsPerPixel, bigEndian, redMax, greenMax, blueMax, redShift, greenShift, blueShift };
}

interface Context {
  readonly surface: SurfaceView;
  readonly s: SurfaceWords;
  readonly tr: PixelTranslator;
  readonly tp: { bytes: number; write: TPixelWriter };
  readonly gradient: boolean;
  /** Leave copy-or-gradient to the native stream job (batches: its samples run off the JS thread). */
  readonly chooseLater: boolean;
  /** JPEG allowed for this batch (client asked, not a lossless refresh, 16 bpp or more). */
  readonly jpeg: boolean;
  /** Neighbouring JPEG pieces may merge into rects above 64 Ki pixels (see bigJpegFormat). */
  readonly bigJpeg: boolean;
}

/**
 * One rectangle on the wire, decided on the JS thread in wire order (so control bytes,
 * stream resets and each stream's order are fixed); its heavy part made then or later.
 */
type Planned =
  | { readonly kind: 'ready'; readonly parts: Buffer[] }
  | JpegRect
  | { readonly kind: 'png'; readonly header: Buffer; readonly head: Buffer; readonly rect: Rect; readonly scanlines: Buffer; readonly level: number; readonly plte?: Buffer }
  | ZlibRect;

/** `head`: the control byte (and filter, palette) before the compact length. */
interface JpegRect {
  readonly kind: 'jpeg';
  readonly header: Buffer;
  readonly head: Buffer;
  readonly rect: Rect;
}

/** Basic compression through stream `id`: data in hand, or a native filter job. */
interface ZlibRect {
  readonly kind: 'zlib';
  readonly header: Buffer;
  readonly head: Buffer;
  readonly id: number;
  readonly z: NativeZStream;
  readonly data: Buffer | TightStreamJob;
}

/** At most `limit` of the started tasks run at once (JPEG rects: as many as there are cores). */
class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((go) => this.waiting.push(go));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

const JPEG_PARALLEL = Math.max(2, availableParallelism());

export class TightEncoder implements BatchEncoder {
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
  /** A batch is running: its native jobs hold the zlib streams. */
  private batchRunning = false;
  /**
   * false: JPEG in Tight's 64 Ki-pixel pieces, unaligned, one libjpeg call each (the old way;
   * bench/tight.ts compares both in one run).
   */
  mergeJpeg = true;
  /** A big JPEG area is cut into at most this many parts, made at once (default: one per core). */
  jpegParts = JPEG_PARALLEL;

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
    this.notDuringBatch();
    let rects = 0;
    for (const p of this.plan(surface, [rect], pf)) {
      const wire = this.finishSync(surface, p);
      for (const parts of wire) out.push(...parts);
      rects += wire.length;
    }
    return rects;
  }

  /**
   * The rects' encodings, one entry per rectangle on the wire. Classification runs here on
   * the JS thread (cheap: it stops at the colour limit); JPEG, filters and deflate run on
   * the libuv pool — JPEGs several at once (one per core), each zlib stream's inputs in
   * one native job (filtered, then deflated in order, in parallel when big), the streams at
   * once.
   */
  async encodeBatch(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat): Promise<Buffer[][]> {
    this.notDuringBatch();
    // A few tiles (a cursor, a clock, a scrolled-in line) are encoded right here: the pool's
    // round trip (thread wake-ups, an event-loop turn per stream) costs more than they do.
    if (pixelCount(rects) < TIGHT_ASYNC_MIN_PIXELS) return this.plan(surface, rects, pf).flatMap((p) => this.finishSync(surface, p));
    const planned = this.plan(surface, rects, pf, true);
    this.batchRunning = true;
    try {
      const jpegs = new Limiter(JPEG_PARALLEL);
      const streamChunks = this.deflateStreams(planned);
      const settled = await Promise.allSettled(planned.map((p, i) => this.finishAsync(surface, p, streamChunks[i], jpegs)));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) {
        // The streams ran ahead of what the client will see: start them over (the next rect says so).
        for (let id = 0; id < 4; id++) this.dropStream(id);
        throw failed.reason;
      }
      return settled.flatMap((s) => (s as PromiseFulfilledResult<Buffer[][]>).value);
    } finally {
      this.batchRunning = false;
    }
  }

  private notDuringBatch(): void {
    if (this.batchRunning) throw new Error('TightEncoder: encode called while a batch is running (its zlib streams are busy)');
  }

  /**
   * Every rect cut into fills and pieces, each piece decided (wire order); many-colour pieces
   * that touch (one above the other, same columns) merge into one JPEG band when the format
   * allows, cut again into one part per core when it is big.
   */
  private plan(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat, chooseLater = false): Planned[] {
    const tr = this.translators.get(pf);
    // Gradient only when the client's SetEncodings had no quality level at all: noVNC does
    // not implement the gradient filter but always sends a quality level, and lossless
    // refreshes (for a client that has one) must stay decodable by it, so they use copy.
    const gradient = !this.png && this.jpegQuality === undefined && gradientFormat(pf);
    const jpeg = this.jpegAllowed(pf);
    const ctx: Context = {
      surface, s: surfaceWords(surface), tr, tp: tpixelWriter(tr), gradient, chooseLater,
      jpeg, bigJpeg: jpeg && this.mergeJpeg && bigJpegFormat(pf),
    };
    const planned: Planned[] = [];
    let band: Rect | undefined; // JPEG pieces not yet planned, merged
    const flush = (): void => {
      if (band) this.jpegBand(ctx, band, planned);
      band = undefined;
    };
    const align = jpeg && this.mergeJpeg ? JPEG_ROW_ALIGN : 1;
    for (const rect of rects) {
      if (rect.w <= 0 || rect.h <= 0) continue;
      const { solid, rest } = splitSolidAreas(ctx.s, rect);
      if (solid.length) flush();
      for (const a of solid) for (const piece of tightPieces(a.rect, Infinity)) planned.push(this.fill(ctx, piece, a.colour));
      for (const r of rest) {
        for (const piece of tightPieces(r, MAX_AREA, align)) {
          const colours = this.classify(ctx, piece);
          if (colours) {
            flush();
            planned.push(this.planPiece(ctx, piece, colours));
          } else if (band && ctx.bigJpeg && band.x === piece.x && band.w === piece.w && band.y + band.h === piece.y) {
            band.h += piece.h;
          } else {
            flush();
            band = { ...piece };
          }
        }
      }
    }
    flush();
    return planned;
  }

  /** A JPEG area as wire rects: whole, or in rows-aligned parts (one per core, none over JPEG_MAX_PART) when big. */
  private jpegBand(ctx: Context, band: Rect, planned: Planned[]): void {
    const area = band.w * band.h;
    let parts = 1;
    if (ctx.bigJpeg) parts = Math.max(Math.min(this.jpegParts, Math.floor(area / JPEG_MIN_PART)), Math.ceil(area / JPEG_MAX_PART), 1);
    const rows = Math.min(band.h, Math.ceil(band.h / parts / JPEG_ROW_ALIGN) * JPEG_ROW_ALIGN);
    for (let y = band.y; y < band.y + band.h; y += rows) {
      const rect = { x: band.x, y, w: band.w, h: Math.min(rows, band.y + band.h - y) };
      this.lossy.push(rect);
      planned.push({ kind: 'jpeg', header: rectHeader(rect, this.encoding), head: Buffer.from([this.control(CTL_JPEG)]), rect });
    }
  }

  /** The planned rect's bytes: one wire rect, or two or more when a JPEG came out too big for its length. */
  private finishSync(surface: SurfaceView, p: Planned): Buffer[][] {
    switch (p.kind) {
      case 'ready': return [p.parts];
      case 'jpeg': return this.jpegSync(surface, p);
      case 'png': return [withLength(p.header, p.head, pngFile(p.rect.w, p.rect.h, deflateSync(p.scanlines, { level: p.level }), p.plte))];
      case 'zlib': {
        const data = Buffer.isBuffer(p.data) ? p.data : native.tightFilter(p.data as TightFilterJob); // sync plans never leave the choice
        return [withLength(p.header, p.head, p.z.deflate(data))];
      }
    }
  }

  /**
   * A JPEG rect on the wire; a JPEG longer than a compact length holds (noise at quality 100:
   * ~4 bytes per pixel) is made again as two halves, each its own rect.
   */
  private jpegSync(surface: SurfaceView, p: JpegRect): Buffer[][] {
    const data = this.jpeg.compress(surface, p.rect, this.jpegQuality!, this.subsampling);
    if (data.length <= MAX_COMPACT_LENGTH) return [withLength(p.header, p.head, data)];
    return this.halves(p).flatMap((h) => this.jpegSync(surface, h));
  }

  private async jpegAsync(surface: SurfaceView, p: JpegRect, quality: number, subsampling: Subsampling, jpegs: Limiter): Promise<Buffer[][]> {
    const data = await jpegs.run(() => this.jpeg.compressAsync(surface, p.rect, quality, subsampling));
    if (data.length <= MAX_COMPACT_LENGTH) return [withLength(p.header, p.head, data)];
    return (await Promise.all(this.halves(p).map((h) => this.jpegAsync(surface, h, quality, subsampling, jpegs)))).flat();
  }

  /** The two halves of a JPEG rect (rows, at a multiple of JPEG_ROW_ALIGN when it can), the first keeping the control byte. */
  private halves(p: JpegRect): JpegRect[] {
    const { x, y, w, h } = p.rect;
    if (w * h < 2) throw new Error('tight: a one-pixel JPEG does not fit a compact length'); // cannot happen: a JPEG pixel is < 4 MiB
    let parts: Rect[];
    if (h >= 2) {
      let top = Math.ceil(h / 2 / JPEG_ROW_ALIGN) * JPEG_ROW_ALIGN;
      if (top >= h) top = h >> 1;
      parts = [{ x, y, w, h: top }, { x, y: y + top, w, h: h - top }];
    } else {
      parts = [{ x, y, w: w >> 1, h }, { x: x + (w >> 1), y, w: w - (w >> 1), h }];
    }
    return parts.map((rect, i) => ({ kind: 'jpeg', rect, header: rectHeader(rect, this.encoding), head: i === 0 ? p.head : Buffer.from([CTL_JPEG]) }));
  }

  /**
   * Each zlib stream's inputs of the batch, in order, as one native job per stream (the
   * streams run at once); entry i: the chunk for planned[i], if it is a zlib rect.
   */
  private deflateStreams(planned: readonly Planned[]): Array<Promise<Buffer> | undefined> {
    const chunks: Array<Promise<Buffer> | undefined> = new Array(planned.length);
    for (let id = 0; id < 4; id++) {
      const mine: ZlibRect[] = [];
      const at: number[] = [];
      planned.forEach((p, i) => {
        if (p.kind === 'zlib' && p.id === id) {
          mine.push(p);
          at.push(i);
        }
      });
      if (!mine.length) continue;
      const all = native.tightDeflateAsync(mine.map((p) => p.data), mine[0]!.z).then(({ data, sizes, filters }) => {
        let offset = 0;
        return mine.map((p, k) => {
          // A choice left to the native job: the filter byte says what it took.
          if (!Buffer.isBuffer(p.data) && p.data.filter === FILTER_CHOOSE) p.head[1] = filters[k]!;
          return data.subarray(offset, (offset += sizes[k]!));
        });
      });
      at.forEach((i, k) => (chunks[i] = all.then((outs) => outs[k]!)));
    }
    return chunks;
  }

  private async finishAsync(surface: SurfaceView, p: Planned, chunk: Promise<Buffer> | undefined, jpegs: Limiter): Promise<Buffer[][]> {
    switch (p.kind) {
      case 'ready': return [p.parts];
      case 'jpeg': {
        // Settings as they are now (the call's), not when the limiter lets it run.
        const quality = this.jpegQuality!, subsampling = this.subsampling;
        return this.jpegAsync(surface, p, quality, subsampling, jpegs);
      }
      case 'png': return [withLength(p.header, p.head, pngFile(p.rect.w, p.rect.h, await deflateAsync(p.scanlines, { level: p.level }), p.plte))];
      case 'zlib': return [withLength(p.header, p.head, await chunk!)];
    }
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

  /**
   * The piece's colours, counted up to the limit for its class, or undefined when it has more
   * and goes JPEG (the caller merges neighbouring JPEG pieces).
   */
  private classify(ctx: Context, r: Rect): { table: ColourTable; n: number } | undefined {
    // With JPEG at hand, photo-like pieces (many colours) go JPEG rather than a big palette.
    const maxColours = ctx.jpeg ? (this.compressLevel < 2 ? 24 : 96) : Math.min(256, Math.max(2, (r.w * r.h) >> 2));
    const table = this.table(maxColours);
    const n = countColours(ctx.s, r, table);
    return n > 0 || !ctx.jpeg ? { table, n } : undefined;
  }

  /** A piece that does not go JPEG, by its `n` colours in `table` (−1: more than the table holds). */
  private planPiece(ctx: Context, r: Rect, { table, n }: { table: ColourTable; n: number }): Planned {
    if (n === 1) return this.fill(ctx, r, table.colours[0]!);
    if (n > 0) return this.png ? this.pngPiece(ctx, r, table) : this.palette(ctx, r, table);
    if (this.png) return this.pngPiece(ctx, r);
    return this.fullColour(ctx, r);
  }

  /** The zlib level of stream `id`; the full-colour stream's depends on whether it carries gradient data. */
  private streamLevel(id: number, gradient: boolean): number {
    const [full, indexed] = ZLIB_LEVELS[this.compressLevel]!;
    if (id === STREAM_STORED) return 0;
    if (id !== STREAM_FULL) return indexed;
    return gradient ? GRADIENT_ZLIB_LEVELS[this.compressLevel]! : full;
  }

  private stream(id: number, level: number): NativeZStream {
    let z = this.streams[id];
    if (!z || this.streamLevels[id] !== level) {
      if (z) this.resets |= 1 << id; // the client's inflater for it starts over too
      z = this.streams[id] = new native.ZStream(level);
      this.streamLevels[id] = level;
    }
    return z;
  }

  private dropStream(id: number): void {
    if (this.streams[id]) this.resets |= 1 << id;
    this.streams[id] = undefined;
    this.streamLevels[id] = -1;
  }

  private control(bits: number): number {
    const ctl = bits | this.resets;
    this.resets = 0;
    return ctl;
  }

  private fill(ctx: Context, r: Rect, colour: number): Planned {
    const b = Buffer.allocUnsafe(1 + ctx.tp.bytes);
    b[0] = this.control(CTL_FILL);
    ctx.tp.write(b, 1, colour);
    return { kind: 'ready', parts: [rectHeader(r, this.encoding), b] };
  }

  private pngPiece(ctx: Context, r: Rect, palette?: ColourTable): Planned {
    const level = ZLIB_LEVELS[this.compressLevel]![palette ? 1 : 0];
    const scanlines = pngScanlines(ctx.s, r, palette);
    return { kind: 'png', header: rectHeader(r, this.encoding), head: Buffer.from([this.control(CTL_PNG)]), rect: r, scanlines, level, plte: palette && pngPalette(palette) };
  }

  /** Palette filter: 2 colours as 1 bit per pixel (rows padded to a byte), more as 1 byte. */
  private palette(ctx: Context, r: Rect, pal: ColourTable): Planned {
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
    const head = Buffer.allocUnsafe(3 + n * ctx.tp.bytes);
    let h = 0;
    head[h++] = 0; // control, filled in by basic()
    head[h++] = FILTER_PALETTE;
    head[h++] = n - 1;
    for (let i = 0; i < n; i++) h = ctx.tp.write(head, h, pal.colours[i]!);
    return this.basic(ctx, r, mono ? STREAM_MONO : STREAM_PALETTE, CTL_READ_FILTER, head, data, data.length);
  }

  /**
   * Many colours, no JPEG: the gradient filter when the client may take it and a sample says
   * it deflates clearly smaller than the copy filter (smooth pictures: about half the bytes;
   * text and UI: often more), else the copy filter; noise goes stored, as deflate would not pay (a
   * level-1 deflate of a 1080p noise frame costs ~200 ms). 24-bit TPIXELs are made natively
   * from the surface; other formats are translated here first.
   */
  private fullColour(ctx: Context, r: Rect): Planned {
    const rgb = ctx.tp.bytes === 3;
    const pixels = rgb ? undefined : ctx.tr.translateRect(ctx.surface, r);
    const copy: TightFilterJob = pixels
      ? { src: pixels, stride: r.w * ctx.tp.bytes, x: 0, y: 0, w: r.w, h: r.h, filter: 0, format: filterFormat(ctx.tr.pf) }
      : { src: ctx.surface.data, stride: ctx.surface.width * 4, x: r.x, y: r.y, w: r.w, h: r.h, filter: 0 };
    const gradientJob: TightFilterJob = { ...copy, filter: FILTER_GRADIENT };
    const size = r.w * r.h * ctx.tp.bytes;
    let filter: TightStreamJob['filter'] = ctx.gradient ? FILTER_GRADIENT : FILTER_COPY;
    let stored = false;
    if (size >= SAMPLE_MIN_BYTES) {
      // Noise: its gradient residuals are noise too, so one sample tells.
      const first = native.tightSampleRatio(ctx.gradient ? gradientJob : copy);
      stored = first > INCOMPRESSIBLE_RATIO;
      if (stored) filter = FILTER_COPY;
      else if (ctx.gradient && ctx.chooseLater) filter = FILTER_CHOOSE;
      else if (ctx.gradient && first > GRADIENT_MUST_SAVE * native.tightSampleRatio(copy)) filter = FILTER_COPY;
    }
    // The filter byte is explicit even for copy when the choice is left to the native job (rfbproto allows it).
    const head = Buffer.from([0, filter === FILTER_CHOOSE ? FILTER_GRADIENT : filter]);
    const explicit = filter !== FILTER_COPY;
    // Pixels already translated and not filtered go as they are.
    const data: Buffer | TightStreamJob = filter === FILTER_COPY ? pixels ?? copy : { ...copy, filter };
    return this.basic(ctx, r, stored ? STREAM_STORED : STREAM_FULL, explicit ? CTL_READ_FILTER : 0, head.subarray(0, explicit ? 2 : 1), data, size);
  }

  /**
   * Basic compression: `head` (head[0] the control byte, filled in here) then the data,
   * through zlib stream `id` unless it is under 12 bytes (then as it is, made now).
   */
  private basic(ctx: Context, r: Rect, id: number, bits: number, head: Buffer, data: Buffer | TightStreamJob, size: number): Planned {
    const header = rectHeader(r, this.encoding);
    if (size < MIN_TO_COMPRESS) {
      head[0] = this.control((id << 4) | bits);
      return { kind: 'ready', parts: [header, head, Buffer.isBuffer(data) ? data : native.tightFilter(data as TightFilterJob)] };
    }
    const z = this.stream(id, this.streamLevel(id, ctx.gradient));
    head[0] = this.control((id << 4) | bits);
    return { kind: 'zlib', header, head, id, z, data };
  }
}

/** A rect's parts: header, head bytes, the compact length of `data`, `data`. */
function withLength(header: Buffer, head: Buffer, data: Buffer): Buffer[] {
  return [header, Buffer.concat([head, Buffer.from(compactLength(data.length))]), data];
}
