// CopyRect (1): the client copies an area it already has (used for scrolls and moves).
import { rectHeader } from './raw.js';
import type { Rect } from './types.js';

export const ENCODING_COPYRECT = 1;

/** Append one CopyRect rectangle: `dst` takes the pixels at (srcX, srcY) of the same size. */
export function encodeCopyRect(dst: Rect, srcX: number, srcY: number, out: Buffer[]): number {
  const body = Buffer.allocUnsafe(4);
  body.writeUInt16BE(srcX, 0);
  body.writeUInt16BE(srcY, 2);
  out.push(rectHeader(dst, ENCODING_COPYRECT), body);
  return 1;
}
