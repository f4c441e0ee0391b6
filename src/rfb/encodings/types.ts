// One small interface for every encoding (noVNC's one-decoder-per-file, mirrored for encoders).
import type { PixelFormat } from '../pixel-format.js';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The canonical surface: XRGB8888 little-endian (bytes B,G,R,X), tightly packed. */
export interface SurfaceView {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

/** Per-connection encoder state lives in the encoder instance (e.g. ZRLE's zlib stream). */
export interface Encoder {
  /** RFB encoding number (REFERENCE.md §5). */
  readonly encoding: number;
  /**
   * Append the encoding of `rect` (which lies inside the surface) in the client's pixel
   * format to `out`, each rectangle with its 12-byte header. Returns how many rectangles
   * were written (an encoder may split a rect, e.g. Hextile/ZRLE never need to).
   */
  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number;
}

/**
 * The rectangles an encoder wrote for a batch, one entry per rectangle on the wire, headers
 * included (views into one buffer are fine). Never all bytes in one entry: a session whose
 * client lacks LastRect splits an update of more than 65534 rectangles between entries.
 */
export type EncodedRects = Buffer[][];

/**
 * An encoder that does its heavy work off the JS thread (a native AsyncWorker or the
 * libuv pool). The session hands it every rect of one update at once, never starts a second
 * batch on the same encoder before the first settles (zlib streams are ordered), and keeps
 * the surface's pixels unchanged until the promise settles (Display.hold). Settings the
 * encoder has (Tight's `lossless`, quality) are read when encodeBatch is called.
 */
export interface BatchEncoder extends Encoder {
  encodeBatch(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat): Promise<EncodedRects>;
}

/** Pixels in `rects` (empty ones count nothing): what decides whether a batch is worth the pool. */
export function pixelCount(rects: readonly Rect[]): number {
  let pixels = 0;
  for (const r of rects) if (r.w > 0 && r.h > 0) pixels += r.w * r.h;
  return pixels;
}

export function isBatchEncoder(e: Encoder): e is BatchEncoder {
  return typeof (e as Partial<BatchEncoder>).encodeBatch === 'function';
}
