// Hextile (5) decoder, from rfbproto.rst. Strict about the carry-over rule: using a
// background after a Raw tile, or a foreground after a Raw / SubrectsColoured tile, without
// specifying it again is an error here (real clients would show garbage).
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import type { ClientFramebuffer, DecodedRect, Reader } from './reader.js';

export function decodeHextile(
  r: Reader, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer, seenMasks?: Set<number>,
): void {
  let bg: number | undefined;
  let fg: number | undefined;
  for (let ty = 0; ty < rect.h; ty += 16) {
    for (let tx = 0; tx < rect.w; tx += 16) {
      const tw = Math.min(16, rect.w - tx);
      const th = Math.min(16, rect.h - ty);
      const X = rect.x + tx, Y = rect.y + ty;
      const mask = r.u8();
      if (mask & ~31) throw new Error(`hextile: unknown subencoding bits ${mask}`);
      seenMasks?.add(mask);
      if (mask & 1) {
        for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) fb.set(X + x, Y + y, r.pixel(pf));
        bg = undefined;
        fg = undefined;
        continue;
      }
      if (mask & 2) bg = r.pixel(pf);
      if (bg === undefined) throw new Error(`hextile: tile ${tx},${ty} uses an undefined background`);
      fb.fill(X, Y, tw, th, bg);
      if (mask & 4) fg = r.pixel(pf);
      if (mask & 8) {
        const n = r.u8();
        const coloured = (mask & 16) !== 0;
        if (!coloured && fg === undefined) throw new Error(`hextile: tile ${tx},${ty} uses an undefined foreground`);
        for (let i = 0; i < n; i++) {
          const c = coloured ? r.pixel(pf) : fg!;
          const xy = r.u8(), wh = r.u8();
          const sx = xy >> 4, sy = xy & 15, sw = (wh >> 4) + 1, sh = (wh & 15) + 1;
          if (sx + sw > tw || sy + sh > th) throw new Error(`hextile: subrect outside tile ${tx},${ty}`);
          fb.fill(X + sx, Y + sy, sw, sh, c);
        }
      }
      if (mask & 16) fg = undefined;
    }
  }
}
