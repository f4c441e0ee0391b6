// Decode a sequence of rectangles (12-byte header + body each) into a client framebuffer.
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import { decodeHextile } from './hextile.js';
import { decodeCopyRect, decodeRaw } from './raw.js';
import { ClientFramebuffer, Reader, type DecodedRect } from './reader.js';
import { decodeRre } from './rre.js';
import { TightDecoder } from './tight.js';
import { ZrleDecoder } from './zrle.js';

export { ClientFramebuffer, Reader, channelsOf } from './reader.js';

/** One client connection's decoding state. */
export class TestClient {
  readonly fb: ClientFramebuffer;
  private readonly zrle = new ZrleDecoder();
  /** Tight (7) and TightPNG (−260) state: each has its own zlib streams / rules. */
  readonly tight = new TightDecoder(false);
  readonly tightPng = new TightDecoder(true);
  /** Hextile subencoding masks seen, for coverage checks. */
  readonly hextileMasks = new Set<number>();
  get zrleSubencodings(): ReadonlySet<number> {
    return this.zrle.seen;
  }
  constructor(width: number, height: number, readonly pf: PixelFormat) {
    this.fb = new ClientFramebuffer(width, height);
  }

  /** Decode `count` rects from the concatenated chunks; returns their headers. */
  decode(chunks: Buffer[], count: number): DecodedRect[] {
    const r = new Reader(Buffer.concat(chunks));
    const rects: DecodedRect[] = [];
    for (let i = 0; i < count; i++) {
      const rect = { x: r.u16(), y: r.u16(), w: r.u16(), h: r.u16(), encoding: r.s32() };
      switch (rect.encoding) {
        case 0: decodeRaw(r, rect, this.pf, this.fb); break;
        case 1: decodeCopyRect(r, rect, this.fb); break;
        case 2: decodeRre(r, rect, this.pf, this.fb); break;
        case 5: decodeHextile(r, rect, this.pf, this.fb, this.hextileMasks); break;
        case 7: this.tight.decode(r, rect, this.pf, this.fb); break;
        case 16: this.zrle.decode(r, rect, this.pf, this.fb); break;
        case -260: this.tightPng.decode(r, rect, this.pf, this.fb); break;
        default: throw new Error(`unknown encoding ${rect.encoding}`);
      }
      rects.push(rect);
    }
    if (!r.done) throw new Error(`${r.buf.length - r.off} bytes left over after ${count} rects`);
    return rects;
  }
}
