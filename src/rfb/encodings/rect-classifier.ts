// Looks at the canonical surface (XRGB8888 words) to decide how a rectangle is best sent:
// big single-colour areas are cut out first (TigerVNC's solid-area search), then each
// remaining piece is classed by its number of colours (1, 2, few, many).
import type { Rect, SurfaceView } from './types.js';
import { ColourTable } from './palette.js';

/** The surface as host-order words, rows `stride` words apart. */
export interface SurfaceWords {
  readonly words: Uint32Array;
  readonly stride: number;
}

/** Word view of the surface; copies it when the buffer is not 4-byte aligned (rare: pooled Buffers). */
export function surfaceWords(surface: SurfaceView): SurfaceWords {
  let d = surface.data;
  if (d.byteOffset % 4 !== 0) {
    const copy = Buffer.from(new ArrayBuffer(d.length));
    d.copy(copy);
    d = copy;
  }
  return { words: new Uint32Array(d.buffer, d.byteOffset, d.length >> 2), stride: surface.width };
}

/** The colour of the area when every pixel has it, else −1. */
export function solidColour(s: SurfaceWords, x: number, y: number, w: number, h: number): number {
  const { words, stride } = s;
  const c = words[y * stride + x]!;
  for (let r = y; r < y + h; r++) {
    const row = r * stride;
    for (let i = row + x, end = row + x + w; i < end; i++) if (words[i] !== c) return -1;
  }
  return c;
}

export interface SolidArea {
  rect: Rect;
  colour: number;
}

/** Solid areas are looked for in blocks of this size, and kept when at least this big (as TigerVNC). */
const SOLID_BLOCK = 16;
const SOLID_MIN_AREA = 2048;

/**
 * Splits `rect` into single-colour areas of at least SOLID_MIN_AREA pixels and the
 * rectangles that remain; together they cover `rect` exactly, without overlap.
 */
export function splitSolidAreas(s: SurfaceWords, rect: Rect, solid: SolidArea[] = [], rest: Rect[] = []): { solid: SolidArea[]; rest: Rect[] } {
  if (rect.w * rect.h < SOLID_MIN_AREA) {
    rest.push(rect);
    return { solid, rest };
  }
  const x1 = rect.x + rect.w, y1 = rect.y + rect.h;
  for (let by = rect.y; by < y1; by += SOLID_BLOCK) {
    const bh = Math.min(SOLID_BLOCK, y1 - by);
    for (let bx = rect.x; bx < x1; bx += SOLID_BLOCK) {
      const bw = Math.min(SOLID_BLOCK, x1 - bx);
      const c = solidColour(s, bx, by, bw, bh);
      if (c < 0) continue;
      const area = growSolid(s, rect, { x: bx, y: by, w: bw, h: bh }, c);
      if (area.w * area.h < SOLID_MIN_AREA) continue;
      // Above: scanned already (no big area starts there); the band beside and below: search on.
      if (area.y > rect.y) rest.push({ x: rect.x, y: rect.y, w: rect.w, h: area.y - rect.y });
      if (area.x > rect.x) splitSolidAreas(s, { x: rect.x, y: area.y, w: area.x - rect.x, h: area.h }, solid, rest);
      solid.push({ rect: area, colour: c });
      const ax1 = area.x + area.w, ay1 = area.y + area.h;
      if (ax1 < x1) splitSolidAreas(s, { x: ax1, y: area.y, w: x1 - ax1, h: area.h }, solid, rest);
      if (ay1 < y1) splitSolidAreas(s, { x: rect.x, y: ay1, w: rect.w, h: y1 - ay1 }, solid, rest);
      return { solid, rest };
    }
  }
  rest.push(rect);
  return { solid, rest };
}

/** The largest block-aligned area of colour `c` grown right then down from `block`, then out by single pixels. */
function growSolid(s: SurfaceWords, within: Rect, block: Rect, c: number): Rect {
  const x1 = within.x + within.w, y1 = within.y + within.h;
  // Right, block by block (in the block's row).
  let right = block.x + block.w;
  while (right < x1) {
    const bw = Math.min(SOLID_BLOCK, x1 - right);
    if (solidColour(s, right, block.y, bw, block.h) !== c) break;
    right += bw;
  }
  // Down, a block row at a time, over the whole width found.
  let bottom = block.y + block.h;
  while (bottom < y1) {
    const bh = Math.min(SOLID_BLOCK, y1 - bottom);
    if (solidColour(s, block.x, bottom, right - block.x, bh) !== c) break;
    bottom += bh;
  }
  // Out by pixels: rows below and above, columns left (right is already at a non-solid block).
  while (bottom < y1 && solidColour(s, block.x, bottom, right - block.x, 1) === c) bottom++;
  let top = block.y;
  while (top > within.y && solidColour(s, block.x, top - 1, right - block.x, 1) === c) top--;
  let left = block.x;
  while (left > within.x && solidColour(s, left - 1, top, 1, bottom - top) === c) left--;
  while (right < x1 && solidColour(s, right, top, 1, bottom - top) === c) right++;
  return { x: left, y: top, w: right - left, h: bottom - top };
}

/**
 * The distinct colours of the area into `table` (cleared first). Returns their number, or
 * −1 as soon as there are more than the table holds.
 */
export function countColours(s: SurfaceWords, r: Rect, table: ColourTable): number {
  const { words, stride } = s;
  table.clear();
  let prev = words[r.y * stride + r.x]!;
  let run = 0;
  for (let y = r.y; y < r.y + r.h; y++) {
    const row = y * stride;
    for (let i = row + r.x, end = row + r.x + r.w; i < end; i++) {
      const v = words[i]!;
      if (v === prev) {
        run++;
        continue;
      }
      if (table.add(prev, run) < 0) return -1;
      prev = v;
      run = 1;
    }
  }
  if (table.add(prev, run) < 0) return -1;
  return table.size;
}

export { ColourTable };
