// De-tiling in capture: a known image is tiled here, from the layouts documented in
// drm_fourcc.h (gen8+: X = 4 KiB tiles of 8 rows × 512 bytes, bytes row-major inside;
// Y = 4 KiB tiles of 32 rows × 128 bytes, made of 16-byte OWORD columns stored column-major),
// and must read back through capture() as the untiled picture.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native, type NativeMapping, type PlaneGeometry } from '../../src/native.js';

const XRGB8888 = 0x34325258;
const RGB565 = 0x36314752;
const X_TILED = 0x0100000000000001n;
const Y_TILED = 0x0100000000000002n;
const YF_TILED = 0x0100000000000003n;

const dir = mkdtempSync(join(tmpdir(), 'vgpu-detile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;
function map(bytes: Uint8Array): NativeMapping {
  const path = join(dir, `t${count++}.bin`);
  writeFileSync(path, bytes);
  return new native.Mapping(path);
}

/** Byte offset of linear byte (xByte, y) in a tiled buffer with `stride` bytes per tiled row. */
function tiledOffset(kind: 'X' | 'Y', stride: number, xByte: number, y: number): number {
  if (kind === 'X') {
    const tilesPerRow = stride / 512;
    const tile = Math.floor(y / 8) * tilesPerRow + Math.floor(xByte / 512);
    return tile * 4096 + (y % 8) * 512 + (xByte % 512);
  }
  const tilesPerRow = stride / 128;
  const tile = Math.floor(y / 32) * tilesPerRow + Math.floor(xByte / 128);
  const inTile = xByte % 128;
  const column = Math.floor(inTile / 16);
  return tile * 4096 + column * 16 * 32 + (y % 32) * 16 + (inTile % 16);
}

/** A random linear XRGB/RGB565 picture, its tiled bytes, and the expected canonical surface. */
function tiledImage(kind: 'X' | 'Y', fourcc: number, width: number, height: number, stride: number, seed: number) {
  const bpp = fourcc === RGB565 ? 2 : 4;
  const rows = kind === 'X' ? 8 : 32;
  const paddedRows = Math.ceil(height / rows) * rows;
  const tiled = new Uint8Array(stride * paddedRows);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
  for (let i = 0; i < tiled.length; i++) tiled[i] = rand(); // padding garbage everywhere
  const expected = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const px = [rand(), rand(), rand(), rand()];
      for (let b = 0; b < bpp; b++) tiled[tiledOffset(kind, stride, x * bpp + b, y)] = px[b];
      const out = (y * width + x) * 4;
      if (bpp === 4) {
        expected.set([px[0], px[1], px[2], 0], out); // XRGB8888 bytes B,G,R,X
      } else {
        const v = px[0] | (px[1] << 8);
        const r5 = v >> 11, g6 = (v >> 5) & 63, b5 = v & 31;
        expected.set([(b5 << 3) | (b5 >> 2), (g6 << 2) | (g6 >> 4), (r5 << 3) | (r5 >> 2), 0], out);
      }
    }
  }
  return { tiled, expected };
}

describe('Intel tiled planes', () => {
  const cases = [
    { kind: 'X' as const, modifier: X_TILED, width: 300, height: 21, stride: 1536, fourcc: XRGB8888 },
    { kind: 'X' as const, modifier: X_TILED, width: 128, height: 8, stride: 512, fourcc: XRGB8888 },
    { kind: 'Y' as const, modifier: Y_TILED, width: 77, height: 45, stride: 384, fourcc: XRGB8888 },
    { kind: 'Y' as const, modifier: Y_TILED, width: 61, height: 33, stride: 128, fourcc: RGB565 },
  ];
  for (const c of cases) {
    it(`${c.kind}-tiled ${c.width}x${c.height} stride ${c.stride} ${c.fourcc === RGB565 ? 'RGB565' : 'XRGB8888'} reads back untiled`, async () => {
      const { tiled, expected } = tiledImage(c.kind, c.fourcc, c.width, c.height, c.stride, c.width * 31 + c.height);
      const mapping = map(tiled);
      const plane: PlaneGeometry = { fourcc: c.fourcc, width: c.width, height: c.height, stride: c.stride, offset: 0, modifier: c.modifier };
      const surface = Buffer.alloc(expected.length, 0x77);
      const result = await native.capture(mapping, plane, surface, 16, false);
      expect(surface.equals(expected)).toBe(true);
      expect(result.dirtyCount).toBe(result.tilesX * result.tilesY);
      // Same picture again: nothing dirty (the de-tiled rows compare equal).
      const again = native.captureSync(mapping, plane, surface, 16, false);
      expect(again.dirtyCount).toBe(0);
      mapping.close();
    });
  }

  it('a linear read of a tiled buffer is not the picture (the test image really is tiled)', () => {
    const { tiled, expected } = tiledImage('Y', XRGB8888, 64, 32, 256, 9);
    const mapping = map(tiled);
    const surface = Buffer.alloc(expected.length);
    native.captureSync(mapping, { fourcc: XRGB8888, width: 64, height: 32, stride: 256, offset: 0 }, surface, 16, true);
    expect(surface.equals(expected)).toBe(false);
    mapping.close();
  });

  it('accepts modifier 0 (number or BigInt) as linear', () => {
    const bytes = new Uint8Array(16 * 4 * 2).map((_, i) => i);
    const mapping = map(bytes);
    const a = Buffer.alloc(16 * 2 * 4), b = Buffer.alloc(16 * 2 * 4);
    native.captureSync(mapping, { fourcc: XRGB8888, width: 16, height: 2, stride: 64, offset: 0 }, a, 8, true);
    native.captureSync(mapping, { fourcc: XRGB8888, width: 16, height: 2, stride: 64, offset: 0, modifier: 0n }, b, 8, true);
    expect(a.equals(b)).toBe(true);
    mapping.close();
  });
});

describe('tiled geometry is validated before any read', () => {
  const mapping = map(new Uint8Array(4096 * 4));
  const base = { fourcc: XRGB8888, width: 64, height: 16, offset: 0 };
  const expectEinval = (plane: PlaneGeometry, pattern: RegExp) => {
    let error: NodeJS.ErrnoException | undefined;
    try {
      native.captureSync(mapping, plane, Buffer.alloc(plane.width * plane.height * 4), 16, true);
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    expect(error?.code).toBe('EINVAL');
    expect(error?.message).toMatch(pattern);
  };

  it('refuses Yf tiling with a message naming it', () => {
    expectEinval({ ...base, stride: 512, modifier: YF_TILED }, /Yf_TILED.*not supported/);
  });
  it('refuses unknown modifiers', () => {
    expectEinval({ ...base, stride: 512, modifier: 0x0200000000000005n }, /modifier 0x0200000000000005 is not supported/);
  });
  it('refuses a stride that is not a whole number of tiles', () => {
    expectEinval({ ...base, stride: 768, modifier: X_TILED }, /not a multiple of the Intel X tile width 512/);
    expectEinval({ ...base, stride: 320, modifier: Y_TILED }, /not a multiple of the Intel Y tile width 128/);
  });
  it('counts whole tile rows against the mapping', () => {
    // 16 rows of Y tiling need 32 rows × 512 = 16384 bytes: fits exactly; at offset 1 it does not.
    expect(() => native.captureSync(mapping, { ...base, stride: 512, modifier: Y_TILED }, Buffer.alloc(64 * 16 * 4), 16, true)).not.toThrow();
    expectEinval({ ...base, stride: 512, offset: 1, modifier: Y_TILED }, /32 rows \(Y-tiled\) = 16385 exceeds the mapping size 16384/);
  });
  it('refuses a modifier that is not a BigInt', () => {
    expectEinval({ ...base, stride: 512, modifier: 1 as unknown as bigint }, /modifier must be a BigInt/);
  });
});
