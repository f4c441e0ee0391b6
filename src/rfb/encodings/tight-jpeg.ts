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
  /** Into `out` (at least bufferSize bytes); returns a view of it. */
  compressSync(raw: Buffer, out: Buffer, options: JpegOptions): Buffer;
  /** The same on the libuv pool; `raw` and `out` must stay untouched until it settles. */
  compress(raw: Buffer, out: Buffer, options: JpegOptions): Promise<Buffer>;
  /** libjpeg-turbo's worst case for a picture (tjBufSize): about 6 bytes a pixel at 4:4:4. */
  bufferSize(options: Pick<JpegOptions, 'width' | 'height' | 'subsampling'>): number;
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

/**
 * Output buffers for libjpeg-turbo, shared by every compressor and reused: it wants room for
 * its worst case (~6 bytes a pixel), and a fresh one per call is megabytes of new memory for
 * every JPEG (page faults, and V8 collecting often for the external memory: a fifth of the
 * server's JS thread at 1080p 60 fps). The JPEG is copied out (~0.1 of the room) and the
 * buffer kept for the next call.
 */
const spareOutputs: Buffer[] = [];
/** Kept at most (two parts a frame, one per core, and a little slack). */
const MAX_SPARE_OUTPUTS = 4;

function takeOutput(bytes: number): Buffer {
  const i = spareOutputs.findIndex((b) => b.length >= bytes);
  if (i >= 0) return spareOutputs.splice(i, 1)[0]!;
  return Buffer.allocUnsafeSlow(bytes);
}

function giveOutput(b: Buffer): void {
  if (spareOutputs.length < MAX_SPARE_OUTPUTS) spareOutputs.push(b);
  else {
    // Keep the biggest: a big JPEG's buffer serves small ones too.
    const smallest = spareOutputs.reduce((m, x, i) => (x.length < spareOutputs[m]!.length ? i : m), 0);
    if (spareOutputs[smallest]!.length < b.length) spareOutputs[smallest] = b;
  }
}

export class JpegCompressor {
  private scratch = Buffer.alloc(0);

  /** JFIF bytes of `rect` at `quality` (1..100). */
  compress(surface: SurfaceView, rect: Rect, quality: number, subsampling: Subsampling): Buffer {
    const { src, options } = jpegInput(surface, rect, quality, subsampling, (bytes) => {
      if (this.scratch.length < bytes) this.scratch = Buffer.alloc(bytes);
      return this.scratch;
    });
    const out = takeOutput(turbo.bufferSize(options));
    try {
      return Buffer.from(turbo.compressSync(src, out, options));
    } finally {
      giveOutput(out);
    }
  }

  /** The same off the JS thread (several may run at once); the surface must stay unchanged until it settles. */
  compressAsync(surface: SurfaceView, rect: Rect, quality: number, subsampling: Subsampling): Promise<Buffer> {
    const { src, options } = jpegInput(surface, rect, quality, subsampling);
    const out = takeOutput(turbo.bufferSize(options));
    return turbo.compress(src, out, options).then(
      (jpeg) => {
        const copy = Buffer.from(jpeg);
        giveOutput(out);
        return copy;
      },
      (err: unknown) => {
        giveOutput(out);
        throw err;
      },
    );
  }
}
