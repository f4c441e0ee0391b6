// Cursor shape pseudo-encodings (rfbproto): Cursor (-239) — pixels in the client's pixel format
// plus a 1-bit mask — and Cursor With Alpha (-314) — an encoding number, then the image as a
// rectangle in that encoding, 32-bit little-endian ARGB with premultiplied alpha (QEMU and
// TigerVNC's format: bytes B,G,R,A). And compositing, for clients that take neither: the image
// blended into a copy of the pixels they are sent.
import type { CursorImage, CursorState } from '../../server/display.js';
import { TranslatorCache, type PixelFormat } from '../pixel-format.js';
import { rectHeader } from './raw.js';
import type { Rect, SurfaceView } from './types.js';

export const ENCODING_CURSOR = -239;
export const ENCODING_ALPHA_CURSOR = -314;
const ENCODING_RAW = 0;

/** A cursor shape nobody can see: what a hidden cursor is sent as (a 0x0 shape is ignored by some clients). */
export const HIDDEN_CURSOR: CursorImage = Object.freeze({ width: 1, height: 1, hotX: 0, hotY: 0, pixels: Buffer.alloc(4) });

/** Alpha at or above which a pixel is in the 1-bit mask of the Cursor encoding. */
const MASK_THRESHOLD = 128;

/** The image with alpha divided out, as a canonical (B,G,R,X) surface. */
function unpremultiplied(image: CursorImage): SurfaceView {
  const { width, height, pixels } = image;
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height * 4; i += 4) {
    const a = pixels[i + 3]!;
    if (a === 0) continue;
    for (let c = 0; c < 3; c++) data[i + c] = Math.min(255, Math.round((pixels[i + c]! * 255) / a));
  }
  return { data, width, height };
}

/** Cursor (-239): header (x, y = hotspot), pixels in `pf`, then the mask (rows of ceil(w/8) bytes, MSB first). */
export function cursorRect(image: CursorImage | undefined, pf: PixelFormat, translators = new TranslatorCache()): Buffer[] {
  const img = image ?? HIDDEN_CURSOR;
  const { width, height, pixels } = img;
  const header = rectHeader({ x: img.hotX, y: img.hotY, w: width, h: height }, ENCODING_CURSOR);
  const body = translators.get(pf).translateRect(unpremultiplied(img), { x: 0, y: 0, w: width, h: height });
  const rowBytes = (width + 7) >> 3;
  const mask = Buffer.alloc(rowBytes * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (pixels[(y * width + x) * 4 + 3]! >= MASK_THRESHOLD) mask[y * rowBytes + (x >> 3)]! |= 0x80 >> (x & 7);
  return [header, body, mask];
}

/** Cursor With Alpha (-314): header (x, y = hotspot), encoding Raw, premultiplied B,G,R,A pixels. */
export function alphaCursorRect(image: CursorImage | undefined): Buffer[] {
  const img = image ?? HIDDEN_CURSOR;
  const header = rectHeader({ x: img.hotX, y: img.hotY, w: img.width, h: img.height }, ENCODING_ALPHA_CURSOR);
  const encoding = Buffer.alloc(4);
  encoding.writeInt32BE(ENCODING_RAW);
  return [header, encoding, Buffer.from(img.pixels.subarray(0, img.width * img.height * 4))];
}

/** The part of the surface the cursor covers, or undefined (hidden, or wholly off-surface). */
export function cursorBounds(state: CursorState | undefined, surfaceWidth: number, surfaceHeight: number): Rect | undefined {
  const img = state?.image;
  if (!img) return undefined;
  const x0 = Math.max(0, state.x), y0 = Math.max(0, state.y);
  const x1 = Math.min(surfaceWidth, state.x + img.width), y1 = Math.min(surfaceHeight, state.y + img.height);
  if (x1 <= x0 || y1 <= y0) return undefined;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/**
 * Copies `rect` of `surface` into `target` (same size and layout) and blends the cursor over it
 * there: out = cursor + pixel × (255 − alpha) / 255 (premultiplied "over"). `surface` is untouched.
 */
export function compositeRect(surface: SurfaceView, target: Buffer, rect: Rect, state: CursorState): void {
  const { width } = surface;
  const src = surface.data;
  for (let y = rect.y; y < rect.y + rect.h; y++) {
    const o = (y * width + rect.x) * 4;
    src.copy(target, o, o, o + rect.w * 4);
  }
  const img = state.image;
  if (!img) return;
  const x0 = Math.max(rect.x, state.x), x1 = Math.min(rect.x + rect.w, state.x + img.width);
  const y0 = Math.max(rect.y, state.y), y1 = Math.min(rect.y + rect.h, state.y + img.height);
  const px = img.pixels;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const c = ((y - state.y) * img.width + (x - state.x)) * 4;
      const a = px[c + 3]!;
      if (a === 0) continue;
      const o = (y * width + x) * 4;
      const keep = 255 - a;
      for (let k = 0; k < 3; k++) target[o + k] = Math.min(255, px[c + k]! + Math.round((target[o + k]! * keep) / 255));
    }
  }
}
