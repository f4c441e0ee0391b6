// Raw (0) and CopyRect (1) decoders, from rfbproto.rst.
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import type { ClientFramebuffer, DecodedRect, Reader } from './reader.js';

export function decodeRaw(r: Reader, rect: DecodedRect, pf: PixelFormat, fb: ClientFramebuffer): void {
  fb.checkRect(rect.x, rect.y, rect.w, rect.h);
  for (let y = 0; y < rect.h; y++) {
    for (let x = 0; x < rect.w; x++) fb.set(rect.x + x, rect.y + y, r.pixel(pf));
  }
}

export function decodeCopyRect(r: Reader, rect: DecodedRect, fb: ClientFramebuffer): void {
  const sx = r.u16();
  const sy = r.u16();
  fb.checkRect(rect.x, rect.y, rect.w, rect.h);
  fb.checkRect(sx, sy, rect.w, rect.h);
  const copy = new Float64Array(rect.w * rect.h);
  for (let y = 0; y < rect.h; y++) for (let x = 0; x < rect.w; x++) copy[y * rect.w + x] = fb.get(sx + x, sy + y);
  for (let y = 0; y < rect.h; y++) for (let x = 0; x < rect.w; x++) fb.set(rect.x + x, rect.y + y, copy[y * rect.w + x]!);
}
