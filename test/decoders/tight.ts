// Tight (7) and TightPNG (−260) decoder, written from rfbproto.rst "Tight Encoding" (not
// from the encoder). Four zlib streams per connection, reset by the control byte's low bits;
// JPEG is decoded by jpeg-js and PNG by pngjs (both pure JavaScript, independent of the
// libjpeg-turbo the server uses).
import { constants, inflateSync } from 'node:zlib';
import jpegJs from 'jpeg-js';
import { PNG } from 'pngjs';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import { Reader, type ClientFramebuffer, type DecodedRect } from './reader.js';

/** One zlib stream of the connection: all bytes so far are inflated again, the new part kept. */
class InflateStream {
  private compressed: Buffer[] = [];
  private inflatedSoFar = 0;
  reset(): void {
    this.compressed = [];
    this.inflatedSoFar = 0;
  }
  snapshot(): () => void {
    const compressed = [...this.compressed], inflated = this.inflatedSoFar;
    return () => {
      this.compressed = compressed;
      this.inflatedSoFar = inflated;
    };
  }
  next(data: Buffer): Buffer {
    this.compressed.push(data);
    const all = inflateSync(Buffer.concat(this.compressed), { finishFlush: constants.Z_SYNC_FLUSH });
    const fresh = all.subarray(this.inflatedSoFar);
    this.inflatedSoFar = all.length;
    return fresh;
  }
}

export type TightKind = 'fill' | 'jpeg' | 'png' | 'copy' | 'copy-raw' | 'mono' | 'palette' | 'gradient';

/** rfbproto: TPIXEL is R,G,B for true colour, 32 bpp, depth 24, all channels 8 bits wide. */
function tpixelRgb(pf: PixelFormat): boolean {
  return pf.trueColour && pf.bitsPerPixel === 32 && pf.depth === 24 && pf.redMax === 255 && pf.greenMax === 255 && pf.blueMax === 255;
}

/** A client pixel value from 8-bit R,G,B (each channel's top bits, as the server's rule). */
export function pixelFromRgb(pf: PixelFormat, r: number, g: number, b: number): number {
  const ch = (c: number, max: number, shift: number): number => {
    const bits = Math.round(Math.log2(max + 1));
    return (c >> (8 - bits)) * 2 ** shift;
  };
  return ch(r, pf.redMax, pf.redShift) + ch(g, pf.greenMax, pf.greenShift) + ch(b, pf.blueMax, pf.blueShift);
}

export class TightDecoder {
  private readonly streams = [new InflateStream(), new InflateStream(), new InflateStream(), new InflateStream()];
  /** What each rect used, for coverage checks; and the streams that carried data. */
  readonly seen = new Set<TightKind>();
  readonly streamsUsed = new Set<number>();
  /** Rects that came as JPEG (lossy). */
  readonly jpegRects: DecodedRect[] = [];

  constructor(readonly png: boolean) {}

  /** Undo for a decode that ran out of bytes (a client reading from a socket retries later). */
  snapshot(): () => void {
    const undo = this.streams.map((z) => z.snapshot());
    const jpegs = this.jpegRects.length;
    return () => {
      for (const u of undo) u();
      this.jpegRects.length = jpegs;
    };
  }

  private tpixel(r: Reader, pf: PixelFormat): number {
    if (!tpixelRgb(pf)) return r.pixel(pf);
    const red = r.u8(), green = r.u8(), blue = r.u8();
    return red * 2 ** pf.redShift + green * 2 ** pf.greenShift + blue * 2 ** pf.blueShift;
  }

  private compactLength(r: Reader): number {
    let b = r.u8();
    let len = b & 0x7f;
    if (b & 0x80) {
      b = r.u8();
      len |= (b & 0x7f) << 7;
      if (b & 0x80) len += r.u8() * 2 ** 14;
    }
    return len;
  }

  /** `n` bytes of filtered data: as they are when under 12, else compact length + zlib on `stream`. */
  private data(r: Reader, stream: number, n: number): Reader {
    if (n < 12) return new Reader(Buffer.from(r.bytes(n)));
    const len = this.compactLength(r);
    const out = this.streams[stream]!.next(Buffer.from(r.bytes(len)));
    if (out.length !== n) throw new Error(`tight: stream ${stream} gave ${out.length} bytes, expected ${n}`);
    this.streamsUsed.add(stream);
    return new Reader(out);
  }

  decode(r: Reader, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer): void {
    const { x: X, y: Y, w, h } = rect;
    if (w > 2048) throw new Error(`tight: rect ${w} wide (max 2048)`);
    fb.checkRect(X, Y, w, h);
    const ctl = r.u8();
    for (let i = 0; i < 4; i++) if (ctl & (1 << i)) this.streams[i]!.reset();
    const type = ctl >> 4;
    if (type === 0x8) {
      this.seen.add('fill');
      fb.fill(X, Y, w, h, this.tpixel(r, pf));
      return;
    }
    if (type === 0x9) {
      if (pf.bitsPerPixel !== 16 && pf.bitsPerPixel !== 32) throw new Error(`tight: JPEG at ${pf.bitsPerPixel} bpp`);
      const img = jpegJs.decode(Buffer.from(r.bytes(this.compactLength(r))), { useTArray: true, formatAsRGBA: true });
      this.paintRgba(img.width, img.height, img.data, rect, pf, fb);
      this.seen.add('jpeg');
      this.jpegRects.push(rect);
      return;
    }
    if (type === 0xa) {
      if (!this.png) throw new Error('tight: PNG in a Tight (not TightPNG) rect');
      const img = PNG.sync.read(Buffer.from(r.bytes(this.compactLength(r))));
      this.paintRgba(img.width, img.height, img.data, rect, pf, fb);
      this.seen.add('png');
      return;
    }
    if (type & 0x8) throw new Error(`tight: invalid compression type ${type}`);
    if (this.png) throw new Error('tight: basic compression in a TightPNG rect');

    const stream = (ctl >> 4) & 3;
    const filter = ctl & 0x40 ? r.u8() : 0;
    const tb = tpixelRgb(pf) ? 3 : pf.bitsPerPixel / 8;
    if (filter === 0) {
      const d = this.data(r, stream, w * h * tb);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) fb.set(X + x, Y + y, this.tpixel(d, pf));
      this.seen.add('copy');
      if (stream === 3) this.seen.add('copy-raw');
    } else if (filter === 1) {
      const n = r.u8() + 1;
      if (n < 2) throw new Error('tight: palette of 1 colour');
      const palette = Array.from({ length: n }, () => this.tpixel(r, pf));
      if (n === 2) {
        const rowBytes = (w + 7) >> 3;
        const d = this.data(r, stream, rowBytes * h);
        for (let y = 0; y < h; y++) {
          const row = d.bytes(rowBytes);
          for (let x = 0; x < w; x++) fb.set(X + x, Y + y, palette[(row[x >> 3]! >> (7 - (x & 7))) & 1]!);
        }
        this.seen.add('mono');
      } else {
        const d = this.data(r, stream, w * h);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const i = d.u8();
            if (i >= n) throw new Error(`tight: palette index ${i} >= ${n}`);
            fb.set(X + x, Y + y, palette[i]!);
          }
        }
        this.seen.add('palette');
      }
    } else if (filter === 2) {
      this.gradient(this.data(r, stream, w * h * tb), rect, pf, fb);
      this.seen.add('gradient');
    } else {
      throw new Error(`tight: unknown filter ${filter}`);
    }
  }

  /**
   * rfbproto GradientFilter: each colour component was sent as (value − prediction) modulo
   * max + 1, the prediction being left + above − above-left clamped to 0..max, with pixels
   * outside the rect counted as 0. TPIXELs carry R, G, B bytes (max 255); other formats carry
   * a PIXEL whose components are at the format's shifts.
   */
  private gradient(d: Reader, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer): void {
    const { x: X, y: Y, w, h } = rect;
    const rgb = tpixelRgb(pf);
    const maxes = rgb ? [255, 255, 255] : [pf.redMax, pf.greenMax, pf.blueMax];
    const shifts = [pf.redShift, pf.greenShift, pf.blueShift];
    let above = new Array<number>(w * 3).fill(0);
    for (let y = 0; y < h; y++) {
      const row = new Array<number>(w * 3).fill(0);
      for (let x = 0; x < w; x++) {
        let residual: number[];
        if (rgb) residual = [d.u8(), d.u8(), d.u8()];
        else {
          const v = d.pixel(pf);
          residual = shifts.map((s, c) => Math.floor(v / 2 ** s) % (maxes[c]! + 1));
        }
        let value = 0;
        for (let c = 0; c < 3; c++) {
          const left = x > 0 ? row[(x - 1) * 3 + c]! : 0;
          const up = above[x * 3 + c]!;
          const upLeft = x > 0 ? above[(x - 1) * 3 + c]! : 0;
          const predicted = Math.min(maxes[c]!, Math.max(0, left + up - upLeft));
          const comp = (residual[c]! + predicted) % (maxes[c]! + 1);
          row[x * 3 + c] = comp;
          value += comp * 2 ** shifts[c]!;
        }
        fb.set(X + x, Y + y, value);
      }
      above = row;
    }
  }

  private paintRgba(iw: number, ih: number, data: Uint8Array, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer): void {
    if (iw !== rect.w || ih !== rect.h) throw new Error(`tight: image ${iw}x${ih} in a ${rect.w}x${rect.h} rect`);
    for (let y = 0; y < ih; y++) {
      for (let x = 0; x < iw; x++) {
        const o = (y * iw + x) * 4;
        fb.set(rect.x + x, rect.y + y, pixelFromRgb(pf, data[o]!, data[o + 1]!, data[o + 2]!));
      }
    }
  }
}
