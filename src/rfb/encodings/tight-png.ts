// PNG of a surface rectangle for TightPNG (noVNC draws it with the browser's decoder).
// A PNG is only a container around one zlib stream (RFC 2083): signature, IHDR, IDAT,
// IEND, each chunk with a CRC-32. Written here rather than with sharp, whose PNG path costs
// far more per small rect; the scanlines and the file are separate steps so that a batch can
// deflate them off the JS thread.
import { crc32, deflateSync } from 'node:zlib';
import type { ColourTable } from './palette.js';
import type { Rect } from './types.js';
import type { SurfaceWords } from './rect-classifier.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_RGB = 2;
const COLOUR_INDEXED = 3;

function chunk(type: string, data: Buffer): Buffer[] {
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return [head, data, crc];
}

/** The colours of `palette` as PNG's PLTE (R, G, B each). */
export function pngPalette(palette: ColourTable): Buffer {
  const plte = Buffer.allocUnsafe(palette.size * 3);
  for (let i = 0; i < palette.size; i++) {
    const c = palette.colours[i]!;
    plte[i * 3] = c >>> 16;
    plte[i * 3 + 1] = c >>> 8;
    plte[i * 3 + 2] = c;
  }
  return plte;
}

/**
 * The scanlines PNG deflates for `r`: with `palette` (holding every colour of the area, ≤ 256)
 * 1 index byte per pixel, otherwise 8-bit R, G, B. Rows use filter 0 (none): cheapest to make.
 */
export function pngScanlines(s: SurfaceWords, r: Rect, palette?: ColourTable): Buffer {
  const { words, stride } = s;
  const bpp = palette ? 1 : 3;
  const rowBytes = 1 + r.w * bpp;
  const raw = Buffer.allocUnsafe(rowBytes * r.h);
  let o = 0;
  for (let y = r.y; y < r.y + r.h; y++) {
    raw[o++] = 0;
    const row = y * stride;
    if (palette) {
      let last = -1, idx = 0;
      for (let i = row + r.x, end = row + r.x + r.w; i < end; i++) {
        const v = words[i]!;
        if (v !== last) {
          last = v;
          idx = palette.indexOf(v);
        }
        raw[o++] = idx;
      }
    } else {
      for (let i = row + r.x, end = row + r.x + r.w; i < end; i++) {
        const v = words[i]!;
        raw[o++] = v >>> 16;
        raw[o++] = v >>> 8;
        raw[o++] = v;
      }
    }
  }
  return raw;
}

/** The PNG file around `idat` (the deflated scanlines): indexed when `plte` is given, else RGB. */
export function pngFile(w: number, h: number, idat: Buffer, plte?: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = plte ? COLOUR_INDEXED : COLOUR_RGB;
  const parts = [SIGNATURE, ...chunk('IHDR', ihdr)];
  if (plte) parts.push(...chunk('PLTE', plte));
  parts.push(...chunk('IDAT', idat), ...chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** PNG bytes of `r`, synchronously (see pngScanlines). */
export function encodePng(s: SurfaceWords, r: Rect, level: number, palette?: ColourTable): Buffer {
  return pngFile(r.w, r.h, deflateSync(pngScanlines(s, r, palette), { level }), palette && pngPalette(palette));
}
