// JPEG of a surface rectangle through libjpeg-turbo (@julusian/jpeg-turbo ships it prebuilt,
// so no compiler or system library is needed). It reads the surface's B,G,R,X bytes in place.
import { createRequire } from 'node:module';
import type { Rect, SurfaceView } from './types.js';

interface JpegTurbo {
  FORMAT_BGRX: number;
  SAMP_444: number;
  SAMP_422: number;
  SAMP_420: number;
  SAMP_GRAY: number;
  compressSync(raw: Buffer, options: JpegOptions): Buffer;
  /** The same on the libuv pool; `raw` must stay unchanged until it settles. */
  compress(raw: Buffer, options: JpegOptions): Promise<Buffer>;
}

interface JpegOptions {
  format: number;
  width: number;
  height: number;
  stride?: number;
  quality?: number;
  subsampling?: number;
}

// CommonJS that fills its exports in a loop: ESM named imports would not see them.
const turbo = createRequire(import.meta.url)('@julusian/jpeg-turbo') as JpegTurbo;

/** Chroma subsampling (rfbproto "JPEG Subsampling Level"). */
export type Subsampling = '444' | '422' | '420' | 'gray';

const SAMP: Record<Subsampling, number> = {
  '444': turbo.SAMP_444,
  '422': turbo.SAMP_422,
  '420': turbo.SAMP_420,
  gray: turbo.SAMP_GRAY,
};

/** The library's input for `rect`: the surface in place, or (see below) its rows packed. */
function jpegInput(surface: SurfaceView, rect: Rect, quality: number, subsampling: Subsampling, scratch: (bytes: number) => Buffer = Buffer.allocUnsafe): { src: Buffer; options: JpegOptions } {
  const sw = surface.width;
  const start = (rect.y * sw + rect.x) * 4;
  let src = surface.data.subarray(start);
  let stride = sw;
  // The library wants stride × height bytes: the last rows of a rect right of x 0 at the
  // bottom of the surface are short of that, so those are packed first.
  if (src.length < sw * rect.h * 4) {
    const rowBytes = rect.w * 4;
    const packed = scratch(rowBytes * rect.h);
    for (let r = 0; r < rect.h; r++) {
      const s = start + r * sw * 4;
      surface.data.copy(packed, r * rowBytes, s, s + rowBytes);
    }
    src = packed;
    stride = rect.w;
  }
  return {
    src,
    options: {
      format: turbo.FORMAT_BGRX,
      width: rect.w,
      height: rect.h,
      stride,
      quality: Math.min(100, Math.max(1, Math.round(quality))),
      subsampling: SAMP[subsampling],
    },
  };
}

export class JpegCompressor {
  private scratch = Buffer.alloc(0);

  /** JFIF bytes of `rect` at `quality` (1..100). */
  compress(surface: SurfaceView, rect: Rect, quality: number, subsampling: Subsampling): Buffer {
    const { src, options } = jpegInput(surface, rect, quality, subsampling, (bytes) => {
      if (this.scratch.length < bytes) this.scratch = Buffer.alloc(bytes);
      return this.scratch;
    });
    return turbo.compressSync(src, options);
  }

  /** The same off the JS thread (several may run at once); the surface must stay unchanged until it settles. */
  compressAsync(surface: SurfaceView, rect: Rect, quality: number, subsampling: Subsampling): Promise<Buffer> {
    const { src, options } = jpegInput(surface, rect, quality, subsampling);
    return turbo.compress(src, options);
  }
}
