// Encoder tuning from a client's SetEncodings list: the compression-level, JPEG quality,
// fine quality and subsampling pseudo-encodings (rfbproto; REFERENCE.md §5).
import type { Subsampling } from './tight-jpeg.js';

export interface EncoderOptions {
  /** zlib level for ZRLE's stream (−1..9; default ZRLE_DEFAULT_ZLIB_LEVEL), e.g. from the compression-level pseudo-encoding. */
  zlibLevel?: number;
  /** Compression level 0 (fastest) .. 9 (smallest), from −256..−247. */
  compressLevel?: number;
  /** JPEG quality 1..100 when the client allows lossy rects (−32..−23 or −512..−412); else lossless only. */
  jpegQuality?: number;
  /** Chroma subsampling for JPEG (−768..−763, or implied by the quality level). */
  subsampling?: Subsampling;
}

const COMPRESS_LEVEL_0 = -256, COMPRESS_LEVEL_9 = -247;
const QUALITY_LEVEL_0 = -32, QUALITY_LEVEL_9 = -23;
const FINE_QUALITY_0 = -512, FINE_QUALITY_100 = -412;
const SUBSAMP_1X = -768, SUBSAMP_16X = -763;

/** The server's compression level when the client names none (TigerVNC's default too). */
export const DEFAULT_COMPRESS_LEVEL = 2;

/**
 * Quality level 0..9 → JPEG quality and subsampling, the table TurboVNC and TigerVNC use,
 * so a viewer's quality slider means the same here.
 */
const QUALITY_LEVELS: ReadonlyArray<[number, Subsampling]> = [
  [15, '420'], [29, '420'], [41, '420'], [42, '422'], [62, '422'],
  [77, '422'], [79, '444'], [86, '444'], [92, '444'], [100, '444'],
];

/** −768 1X (none), −767 4X, −766 2X, −765 gray, −764 8X, −763 16X; JPEG has nothing coarser than 4:2:0. */
const SUBSAMPLING: readonly Subsampling[] = ['444', '420', '422', 'gray', '420', '420'];

/** The first value of each kind in the list wins (the list is in the client's order of preference). */
export function encoderOptionsFrom(encodings: readonly number[]): EncoderOptions {
  const first = (lo: number, hi: number): number | undefined => encodings.find((e) => e >= lo && e <= hi);
  const opts: EncoderOptions = {};
  const level = first(COMPRESS_LEVEL_0, COMPRESS_LEVEL_9);
  if (level !== undefined) opts.compressLevel = level - COMPRESS_LEVEL_0;
  const quality = first(QUALITY_LEVEL_0, QUALITY_LEVEL_9);
  if (quality !== undefined) [opts.jpegQuality, opts.subsampling] = QUALITY_LEVELS[quality - QUALITY_LEVEL_0]!;
  const fine = first(FINE_QUALITY_0, FINE_QUALITY_100);
  if (fine !== undefined) {
    opts.jpegQuality = Math.max(1, fine - FINE_QUALITY_0);
    opts.subsampling ??= '420';
  }
  const sub = first(SUBSAMP_1X, SUBSAMP_16X);
  if (sub !== undefined && opts.jpegQuality !== undefined) opts.subsampling = SUBSAMPLING[sub - SUBSAMP_1X]!;
  return opts;
}
