// Test-side RFB reading, written from rfbproto.rst (not from the encoders): a bounds-checked
// reader, PIXEL / CPIXEL in any true-colour format, and a client framebuffer of pixel values.
import type { PixelFormat } from '../../src/rfb/pixel-format.js';

export class Reader {
  constructor(readonly buf: Buffer, public off = 0) {}
  need(n: number): void {
    if (this.off + n > this.buf.length) {
      throw new Error(`truncated: need ${n} bytes at ${this.off}, have ${this.buf.length - this.off}`);
    }
  }
  u8(): number { this.need(1); return this.buf[this.off++]!; }
  u16(): number { this.need(2); const v = this.buf.readUInt16BE(this.off); this.off += 2; return v; }
  u32(): number { this.need(4); const v = this.buf.readUInt32BE(this.off); this.off += 4; return v; }
  s32(): number { this.need(4); const v = this.buf.readInt32BE(this.off); this.off += 4; return v; }
  bytes(n: number): Buffer { this.need(n); const b = this.buf.subarray(this.off, this.off + n); this.off += n; return b; }
  get done(): boolean { return this.off === this.buf.length; }

  /** An n-byte unsigned integer in the given byte order. */
  uint(n: number, bigEndian: boolean): number {
    this.need(n);
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.buf[this.off + (bigEndian ? i : n - 1 - i)]!;
      v = v * 256 + byte;
    }
    this.off += n;
    return v;
  }

  pixel(pf: PixelFormat): number {
    return this.uint(pf.bitsPerPixel / 8, pf.bigEndian);
  }

  /** ZRLE CPIXEL (rfbproto "ZRLE"): 3 bytes for 32 bpp depth ≤ 24 when the colour bits fit. */
  cpixel(pf: PixelFormat): number {
    const mode = cpixelMode(pf);
    if (mode === 'full') return this.pixel(pf);
    const v = this.uint(3, pf.bigEndian);
    return mode === 'ls3' ? v : v * 256;
  }
}

function channelMasks(pf: PixelFormat): number[] {
  return [pf.redMax * 2 ** pf.redShift, pf.greenMax * 2 ** pf.greenShift, pf.blueMax * 2 ** pf.blueShift];
}

export function cpixelMode(pf: PixelFormat): 'full' | 'ls3' | 'ms3' {
  if (!(pf.trueColour && pf.bitsPerPixel === 32 && pf.depth <= 24)) return 'full';
  const masks = channelMasks(pf);
  // "By convention, the three least significant bytes are used when both ... would contain all bits."
  if (masks.every((m) => m < 2 ** 24)) return 'ls3';
  if (masks.every((m) => m % 256 === 0)) return 'ms3';
  return 'full';
}

/** The client's framebuffer: pixel values in its format. */
export class ClientFramebuffer {
  readonly pixels: Float64Array;
  constructor(readonly width: number, readonly height: number) {
    this.pixels = new Float64Array(width * height).fill(-1); // −1 = never written
  }
  checkRect(x: number, y: number, w: number, h: number): void {
    if (x + w > this.width || y + h > this.height) {
      throw new Error(`rect ${w}x${h}+${x}+${y} outside ${this.width}x${this.height}`);
    }
  }
  fill(x: number, y: number, w: number, h: number, v: number): void {
    this.checkRect(x, y, w, h);
    for (let r = y; r < y + h; r++) this.pixels.fill(v, r * this.width + x, r * this.width + x + w);
  }
  set(x: number, y: number, v: number): void {
    this.pixels[y * this.width + x] = v;
  }
  get(x: number, y: number): number {
    return this.pixels[y * this.width + x]!;
  }
}

/** Channel values of a client pixel value (each in 0..max). */
export function channelsOf(v: number, pf: PixelFormat): [number, number, number] {
  const ch = (max: number, shift: number): number => Math.floor(v / 2 ** shift) % (max + 1);
  return [ch(pf.redMax, pf.redShift), ch(pf.greenMax, pf.greenShift), ch(pf.blueMax, pf.blueShift)];
}

export interface DecodedRect {
  x: number;
  y: number;
  w: number;
  h: number;
  encoding: number;
}
