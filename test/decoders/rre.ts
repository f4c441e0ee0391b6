// RRE (2) decoder, from rfbproto.rst: u32 count, background PIXEL, then count × (PIXEL, x, y, w, h).
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import type { ClientFramebuffer, DecodedRect, Reader } from './reader.js';

export function decodeRre(r: Reader, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer): void {
  const n = r.u32();
  const bg = r.pixel(pf);
  fb.fill(rect.x, rect.y, rect.w, rect.h, bg);
  for (let i = 0; i < n; i++) {
    const c = r.pixel(pf);
    const x = r.u16(), y = r.u16(), w = r.u16(), h = r.u16();
    if (x + w > rect.w || y + h > rect.h) throw new Error(`RRE subrect ${w}x${h}+${x}+${y} outside rect`);
    fb.fill(rect.x + x, rect.y + y, w, h, c);
  }
}
