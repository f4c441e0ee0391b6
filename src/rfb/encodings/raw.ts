// Raw (0): the rect's pixels, rows packed, in the client's pixel format.
import { native } from '../../native.js';
import { TranslatorCache, type PixelFormat } from '../pixel-format.js';
import type { BatchEncoder, EncodedRects, Rect, SurfaceView } from './types.js';

export const ENCODING_RAW = 0;

/** Batches smaller than this are translated on the JS thread: a pool round trip costs more. */
export const RAW_ASYNC_MIN_BYTES = 32 * 1024;

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

/**
 * The batch's one Buffer cut into one entry per rectangle (views, no copies): a session that
 * must split an update of more than 65534 rectangles cuts between entries.
 */
export function oneBufferForRects(buf: Buffer, rects: readonly Rect[], bytesPerPixel: number): EncodedRects {
  const out: EncodedRects = [];
  let off = 0;
  for (const r of rects) {
    if (r.w <= 0 || r.h <= 0) continue;
    const end = off + 12 + r.w * r.h * bytesPerPixel;
    out.push([buf.subarray(off, end)]);
    off = end;
  }
  if (off !== buf.length) throw new Error(`raw batch is ${buf.length} bytes, expected ${off}`);
  return out;
}

export class RawEncoder implements BatchEncoder {
  readonly encoding = ENCODING_RAW;
  private readonly translators = new TranslatorCache();

  encode(surface: SurfaceView, rect: Rect, pf: PixelFormat, out: Buffer[]): number {
    if (rect.w <= 0 || rect.h <= 0) return 0;
    out.push(rectHeader(rect, ENCODING_RAW), this.translators.get(pf).translateRect(surface, rect));
    return 1;
  }

  /** Native translation (a row memcpy for the server's own format) into one Buffer per batch. */
  encodeBatch(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat): Promise<EncodedRects> {
    let bytes = 0;
    for (const r of rects) if (r.w > 0 && r.h > 0) bytes += 12 + r.w * r.h * (pf.bitsPerPixel >> 3);
    if (bytes < RAW_ASYNC_MIN_BYTES) {
      try {
        return Promise.resolve(oneBufferForRects(native.rawEncodeSync(surface, rects, pf), rects, pf.bitsPerPixel >> 3));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return native.rawEncode(surface, rects, pf).then((buf) => oneBufferForRects(buf, rects, pf.bitsPerPixel >> 3));
  }
}
