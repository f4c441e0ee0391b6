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
