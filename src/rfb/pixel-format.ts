// RFB pixel formats: parsing and validating what a client asks for (SetPixelFormat), and
// translating the canonical XRGB8888 surface into it.
//
// Channel reduction rule: an 8-bit channel c goes to a max m = 2ⁿ−1 with n ≤ 8 as its top
// n bits (c >> (8 − n)), as TigerVNC, QEMU and libvncserver do; for n > 8 (e.g. 10-bit
// channels) it is scaled, round(c × m / 255). The translator assumes a little-endian host
// (x86-64, arm64), like the native capture code.
import { endianness } from 'node:os';
import type { Rect, SurfaceView } from './encodings/types.js';

export interface PixelFormat {
  bitsPerPixel: number; // 8, 16 or 32
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

if (endianness() !== 'LE') throw new Error('vgpu-vnc needs a little-endian host');

/** What the server announces in ServerInit: the canonical surface itself. */
export const SERVER_PIXEL_FORMAT: Readonly<PixelFormat> = Object.freeze({
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColour: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
});

/** The 16-byte PIXEL_FORMAT structure (ServerInit, SetPixelFormat after its 3 padding bytes). */
export function parsePixelFormat(buf16: Buffer): PixelFormat {
  if (buf16.length < 16) throw new RangeError(`pixel format needs 16 bytes, got ${buf16.length}`);
  return {
    bitsPerPixel: buf16[0]!,
    depth: buf16[1]!,
    bigEndian: buf16[2] !== 0,
    trueColour: buf16[3] !== 0,
    redMax: buf16.readUInt16BE(4),
    greenMax: buf16.readUInt16BE(6),
    blueMax: buf16.readUInt16BE(8),
    redShift: buf16[10]!,
    greenShift: buf16[11]!,
    blueShift: buf16[12]!,
  };
}

export function writePixelFormat(pf: PixelFormat): Buffer {
  const b = Buffer.alloc(16); // bytes 13..15 are padding
  b[0] = pf.bitsPerPixel;
  b[1] = pf.depth;
  b[2] = pf.bigEndian ? 1 : 0;
  b[3] = pf.trueColour ? 1 : 0;
  b.writeUInt16BE(pf.redMax, 4);
  b.writeUInt16BE(pf.greenMax, 6);
  b.writeUInt16BE(pf.blueMax, 8);
  b[10] = pf.redShift;
  b[11] = pf.greenShift;
  b[12] = pf.blueShift;
  return b;
}

/** Number of bits of a max of the form 2ⁿ−1, or −1 when it is not of that form (or 0). */
export function channelBits(max: number): number {
  if (!Number.isInteger(max) || max <= 0 || max > 0xffff) return -1;
  if ((max & (max + 1)) !== 0) return -1;
  return Math.round(Math.log2(max + 1));
}

/** Why a client's pixel format cannot be served, or undefined when it is sane. */
export function validatePixelFormat(pf: PixelFormat): string | undefined {
  const bpp = pf.bitsPerPixel;
  if (bpp !== 8 && bpp !== 16 && bpp !== 32) return `bits-per-pixel ${bpp} is not 8, 16 or 32`;
  if (pf.depth === 0 || pf.depth > bpp) return `depth ${pf.depth} is not within 1..${bpp}`;
  if (!pf.trueColour) return 'colour-map pixel formats are not supported (true colour only)';
  const channels: Array<[string, number, number]> = [
    ['red', pf.redMax, pf.redShift],
    ['green', pf.greenMax, pf.greenShift],
    ['blue', pf.blueMax, pf.blueShift],
  ];
  let used = 0n;
  for (const [name, max, shift] of channels) {
    const bits = channelBits(max);
    if (bits < 0) return `${name}-max ${max} is not of the form 2^n-1`;
    if (shift + bits > bpp) return `${name}-shift ${shift} + ${bits} bits exceeds ${bpp} bits per pixel`;
    const mask = BigInt(max) << BigInt(shift);
    if ((used & mask) !== 0n) return `${name} channel overlaps another channel`;
    used |= mask;
  }
  return undefined;
}

/** Same layout as the canonical surface (the X byte is free to go as-is). */
export function isServerLayout(pf: PixelFormat): boolean {
  return (
    pf.bitsPerPixel === 32 && !pf.bigEndian && pf.trueColour &&
    pf.redMax === 255 && pf.greenMax === 255 && pf.blueMax === 255 &&
    pf.redShift === 16 && pf.greenShift === 8 && pf.blueShift === 0
  );
}

/**
 * ZRLE's CPIXEL: 3 bytes when bpp is 32, depth ≤ 24, true colour, and every channel bit lies
 * in the least (or else the most) significant 3 bytes of the pixel value. The spec's
 * convention: the least significant 3 bytes win when both would do. `msb` says the value
 * is shifted down 8 bits before its 3 bytes are written in the client's byte order.
 */
export interface CPixelLayout {
  bytes: number;
  msb: boolean;
}

export function cpixelLayout(pf: PixelFormat): CPixelLayout {
  const bpp = pf.bitsPerPixel;
  if (bpp === 32 && pf.depth <= 24 && pf.trueColour) {
    const mask = channelMask(pf);
    if (mask <= 0xffffff) return { bytes: 3, msb: false };
    if ((mask & 0xff) === 0) return { bytes: 3, msb: true };
  }
  return { bytes: bpp >> 3, msb: false };
}

export function cpixelBytes(pf: PixelFormat): number {
  return cpixelLayout(pf).bytes;
}

function channelMask(pf: PixelFormat): number {
  return (
    (pf.redMax * 2 ** pf.redShift) + (pf.greenMax * 2 ** pf.greenShift) + (pf.blueMax * 2 ** pf.blueShift)
  );
}

/** Lookup table: 8-bit channel value → its bits placed in the client's pixel value. */
function channelTable(max: number, shift: number): Uint32Array {
  const t = new Uint32Array(256);
  const bits = channelBits(max);
  for (let c = 0; c < 256; c++) {
    const v = bits <= 8 ? c >> (8 - bits) : Math.round((c * max) / 255);
    t[c] = (v * 2 ** shift) >>> 0;
  }
  return t;
}

/** Host-order word view of the surface (Buffers are not always 4-byte aligned). */
function surfaceWords(surface: SurfaceView): Uint32Array | undefined {
  const d = surface.data;
  if (d.byteOffset % 4 !== 0) return undefined;
  return new Uint32Array(d.buffer, d.byteOffset, d.length >> 2);
}

/**
 * Turns canonical XRGB8888 pixels into one client pixel format. One instance per client
 * pixel format; its value buffer is reused between calls (not re-entrant).
 */
export class PixelTranslator {
  readonly pf: Readonly<PixelFormat>;
  readonly bytesPerPixel: number;
  /** The client's format is the surface's: values are the surface words themselves. */
  readonly identity: boolean;
  private readonly rT: Uint32Array;
  private readonly gT: Uint32Array;
  private readonly bT: Uint32Array;
  private values = new Uint32Array(0);

  constructor(pf: PixelFormat) {
    const why = validatePixelFormat(pf);
    if (why) throw new RangeError(`invalid pixel format: ${why}`);
    this.pf = Object.freeze({ ...pf });
    this.bytesPerPixel = pf.bitsPerPixel >> 3;
    this.identity = isServerLayout(pf);
    this.rT = channelTable(pf.redMax, pf.redShift);
    this.gT = channelTable(pf.greenMax, pf.greenShift);
    this.bT = channelTable(pf.blueMax, pf.blueShift);
  }

  /** The client pixel value for one XRGB8888 word. */
  pixel(xrgb: number): number {
    return (this.rT[(xrgb >>> 16) & 255]! | this.gT[(xrgb >>> 8) & 255]! | this.bT[xrgb & 255]!) >>> 0;
  }

  /** Write one pixel value in the client's byte order; returns the offset after it. */
  writePixel(buf: Uint8Array, off: number, value: number): number {
    switch (this.bytesPerPixel) {
      case 1:
        buf[off] = value;
        return off + 1;
      case 2:
        if (this.pf.bigEndian) {
          buf[off] = value >>> 8;
          buf[off + 1] = value;
        } else {
          buf[off] = value;
          buf[off + 1] = value >>> 8;
        }
        return off + 2;
      default:
        if (this.pf.bigEndian) {
          buf[off] = value >>> 24;
          buf[off + 1] = value >>> 16;
          buf[off + 2] = value >>> 8;
          buf[off + 3] = value;
        } else {
          buf[off] = value;
          buf[off + 1] = value >>> 8;
          buf[off + 2] = value >>> 16;
          buf[off + 3] = value >>> 24;
        }
        return off + 4;
    }
  }

  /**
   * Client pixel values of the rect, rows packed (w × h). The returned array is this
   * translator's scratch buffer: valid until the next call.
   */
  translateValues(surface: SurfaceView, rect: Rect): Uint32Array {
    const { x, y, w, h } = rect;
    const n = w * h;
    if (this.values.length < n) this.values = new Uint32Array(Math.max(n, this.values.length * 2));
    const out = this.values.subarray(0, n);
    const sw = surface.width;
    const words = surfaceWords(surface);
    if (words === undefined) {
      const d = surface.data;
      for (let r = 0; r < h; r++) {
        let s = ((y + r) * sw + x) * 4;
        let o = r * w;
        for (let i = 0; i < w; i++, s += 4) out[o++] = this.pixel(d.readUInt32LE(s));
      }
      return out;
    }
    if (this.identity) {
      for (let r = 0; r < h; r++) {
        const s = (y + r) * sw + x;
        out.set(words.subarray(s, s + w), r * w);
      }
      return out;
    }
    const rT = this.rT, gT = this.gT, bT = this.bT;
    for (let r = 0; r < h; r++) {
      let s = (y + r) * sw + x;
      let o = r * w;
      const end = o + w;
      while (o < end) {
        const v = words[s++]!;
        out[o++] = (rT[(v >>> 16) & 255]! | gT[(v >>> 8) & 255]! | bT[v & 255]!) >>> 0;
      }
    }
    return out;
  }

  /** The rect's pixels packed row after row in the client's format and byte order. */
  translateRect(surface: SurfaceView, rect: Rect): Buffer {
    const { x, y, w, h } = rect;
    const bpp = this.bytesPerPixel;
    // A fresh ArrayBuffer keeps the typed views below aligned.
    const out = Buffer.from(new ArrayBuffer(w * h * bpp));
    if (this.identity) {
      const rowBytes = w * 4;
      for (let r = 0; r < h; r++) {
        const s = ((y + r) * surface.width + x) * 4;
        surface.data.copy(out, r * rowBytes, s, s + rowBytes);
      }
      return out;
    }
    this.writeValues(this.translateValues(surface, rect), 0, w * h, out, 0);
    return out;
  }

  /** Write `count` values starting at vals[start] into buf at off; returns the offset after. */
  writeValues(vals: Uint32Array, start: number, count: number, buf: Uint8Array, off: number): number {
    const bpp = this.bytesPerPixel;
    const end = start + count;
    const aligned = (buf.byteOffset + off) % bpp === 0;
    if (bpp === 1) {
      buf.set(vals.subarray(start, end), off); // truncates each value to its low byte
      return off + count;
    }
    if (aligned) {
      if (bpp === 4) {
        const dst = new Uint32Array(buf.buffer, buf.byteOffset + off, count);
        if (!this.pf.bigEndian) dst.set(vals.subarray(start, end));
        else {
          for (let i = 0, s = start; s < end; i++, s++) {
            const v = vals[s]!;
            dst[i] = ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) >>> 0;
          }
        }
      } else {
        const dst = new Uint16Array(buf.buffer, buf.byteOffset + off, count);
        if (!this.pf.bigEndian) dst.set(vals.subarray(start, end));
        else {
          for (let i = 0, s = start; s < end; i++, s++) {
            const v = vals[s]!;
            dst[i] = ((v >>> 8) & 0xff) | ((v & 0xff) << 8);
          }
        }
      }
      return off + count * bpp;
    }
    for (let s = start; s < end; s++) off = this.writePixel(buf, off, vals[s]!);
    return off;
  }
}

export function samePixelFormat(a: PixelFormat, b: PixelFormat): boolean {
  return (
    a.bitsPerPixel === b.bitsPerPixel && a.depth === b.depth && a.bigEndian === b.bigEndian &&
    a.trueColour === b.trueColour && a.redMax === b.redMax && a.greenMax === b.greenMax &&
    a.blueMax === b.blueMax && a.redShift === b.redShift && a.greenShift === b.greenShift &&
    a.blueShift === b.blueShift
  );
}

/** Keeps one translator per encoder, rebuilt only when the client changes its format. */
export class TranslatorCache {
  private current: PixelTranslator | undefined;
  get(pf: PixelFormat): PixelTranslator {
    const c = this.current;
    if (c && samePixelFormat(c.pf, pf)) return c;
    return (this.current = new PixelTranslator(pf));
  }
}
