// ZRLE (16) decoder, from rfbproto.rst. One instance per connection: the zlib stream
// continues across rects, so it inflates everything received so far (ending each rect at
// a sync flush) and takes the new bytes.
import { constants, inflateSync } from 'node:zlib';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import { Reader, type ClientFramebuffer, type DecodedRect } from './reader.js';

export class ZrleDecoder {
  private compressed: Buffer[] = [];
  private inflatedSoFar = 0;
  /** Subencodings seen, for coverage checks. */
  readonly seen = new Set<number>();

  private inflateNext(data: Buffer): Buffer {
    this.compressed.push(data);
    const all = inflateSync(Buffer.concat(this.compressed), { finishFlush: constants.Z_SYNC_FLUSH });
    const fresh = all.subarray(this.inflatedSoFar);
    this.inflatedSoFar = all.length;
    return fresh;
  }

  decode(r: Reader, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer): void {
    const len = r.u32();
    const z = new Reader(this.inflateNext(Buffer.from(r.bytes(len))));
    fb.checkRect(rect.x, rect.y, rect.w, rect.h);
    for (let ty = 0; ty < rect.h; ty += 64) {
      for (let tx = 0; tx < rect.w; tx += 64) {
        this.seen.add(decodeTile(z, rect.x + tx, rect.y + ty, Math.min(64, rect.w - tx), Math.min(64, rect.h - ty), pf, fb));
      }
    }
    if (!z.done) throw new Error(`zrle: ${z.buf.length - z.off} bytes left over after the tiles`);
  }
}

function runLength(z: Reader): number {
  let len = 1;
  for (;;) {
    const b = z.u8();
    len += b;
    if (b !== 255) return len;
  }
}

function decodeTile(z: Reader, X: number, Y: number, tw: number, th: number, pf: PixelFormat, fb: ClientFramebuffer): number {
  const sub = z.u8();
  const n = tw * th;
  const put = (i: number, v: number): void => fb.set(X + (i % tw), Y + Math.floor(i / tw), v);
  if (sub === 0) {
    for (let i = 0; i < n; i++) put(i, z.cpixel(pf));
  } else if (sub === 1) {
    fb.fill(X, Y, tw, th, z.cpixel(pf));
  } else if (sub >= 2 && sub <= 16) {
    const palette = Array.from({ length: sub }, () => z.cpixel(pf));
    const bits = sub === 2 ? 1 : sub <= 4 ? 2 : 4;
    for (let y = 0; y < th; y++) {
      const row = z.bytes(Math.ceil((tw * bits) / 8));
      for (let x = 0; x < tw; x++) {
        const bit = x * bits;
        const idx = (row[bit >> 3]! >> (8 - bits - (bit & 7))) & ((1 << bits) - 1);
        if (idx >= sub) throw new Error(`zrle: palette index ${idx} >= ${sub}`);
        fb.set(X + x, Y + y, palette[idx]!);
      }
    }
  } else if (sub === 128) {
    let i = 0;
    while (i < n) {
      const c = z.cpixel(pf);
      const len = runLength(z);
      if (i + len > n) throw new Error('zrle: run past the end of the tile');
      for (let k = 0; k < len; k++) put(i++, c);
    }
  } else if (sub >= 130) {
    const size = sub - 128;
    const palette = Array.from({ length: size }, () => z.cpixel(pf));
    let i = 0;
    while (i < n) {
      const b = z.u8();
      const idx = b & 127;
      if (idx >= size) throw new Error(`zrle: palette index ${idx} >= ${size}`);
      const len = b & 128 ? runLength(z) : 1;
      if (i + len > n) throw new Error('zrle: run past the end of the tile');
      for (let k = 0; k < len; k++) put(i++, palette[idx]!);
    }
  } else {
    throw new Error(`zrle: invalid subencoding ${sub}`);
  }
  return sub;
}
