// Raw (0): the rect's pixels, rows packed, in the client's pixel format.
import { TranslatorCache, type PixelFormat } from '../pixel-format.js';
import type { Encoder, Rect, SurfaceView } from './types.js';

export const ENCODING_RAW = 0;

/** The 12-byte rectangle header: x, y, w, h (u16 BE) and the encoding (s32 BE). */
export function rectHeader(rect: Rect, encoding: number): Buffer {
  const h = Buffer.allocUnsafe(12);
  h.writeUInt16BE(rect.x, 0);
  h.writeUInt16BE(rect.y, 2);
  h.writeUInt16BE(rect.w, 4);
  h.writeUInt16BE(rect.h, 6);
  h.writeInt32BE(encoding, 8);
  return h;
}

export class RawEncoder implements Encoder {
  readonly encoding = ENCODING_RAW;
  private readonly translators = new TranslatorCache();

  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number {
    if (rect.w <= 0 || rect.h <= 0) return 0;
    out.push(rectHeader(rect, ENCODING_RAW), this.translators.get(pf).translateRect(surface, rect));
    return 1;
  }
}
