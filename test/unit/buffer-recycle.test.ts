// native.recycleBuffer: encoder output goes back to the pool once written; nothing else is touched.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { SERVER_PIXEL_FORMAT } from '../../src/rfb/pixel-format.js';
import type { SurfaceView } from '../../src/rfb/encodings/types.js';

function surface(width: number, height: number, seed: number): SurfaceView {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 7) & 0xff;
  return { data, width, height };
}

const WHOLE = (s: SurfaceView) => [{ x: 0, y: 0, w: s.width, h: s.height }];

describe('recycleBuffer', () => {
  it('empties every view of a Raw batch and says so once', async () => {
    const s = surface(256, 256, 1);
    const out = await native.rawEncode(s, WHOLE(s), SERVER_PIXEL_FORMAT);
    const pixels = out.subarray(12);
    expect(pixels.equals(s.data)).toBe(true);
    expect(native.recycleBuffer(pixels)).toBe(true);
    expect(out.length).toBe(0);
    expect(pixels.length).toBe(0);
    expect(native.recycleBuffer(out)).toBe(false);
  });

  it('recycles ZRLE output too, and the next batches are still right', async () => {
    const z = new native.ZStream(3);
    for (let seed = 0; seed < 4; seed++) {
      const s = surface(320, 200, seed);
      const raw = await native.rawEncode(s, WHOLE(s), SERVER_PIXEL_FORMAT);
      // A recycled buffer's memory is handed out again: what it held must not leak into a later batch.
      expect(raw.subarray(12).equals(s.data)).toBe(true);
      const zrle = await native.zrleEncode(z, s, WHOLE(s), SERVER_PIXEL_FORMAT);
      expect(zrle.length).toBeGreaterThan(16);
      expect(native.recycleBuffer(raw)).toBe(true);
      expect(native.recycleBuffer(zrle)).toBe(true);
      await new Promise((r) => setImmediate(r));
    }
  });

  it('leaves alone buffers it did not lend (Node allocations and slab-pooled ones)', () => {
    const own = Buffer.alloc(200_000, 5);
    const slabA = Buffer.from('abc');
    const slabB = Buffer.from('def'); // same slab as slabA: detaching it would empty both
    const typed = new Uint8Array(64);
    expect(native.recycleBuffer(own)).toBe(false);
    expect(native.recycleBuffer(slabA)).toBe(false);
    expect(native.recycleBuffer(typed)).toBe(false);
    expect(own.length).toBe(200_000);
    expect(slabA.toString()).toBe('abc');
    expect(slabB.toString()).toBe('def');
    expect(native.recycleBuffer('nope' as unknown as Uint8Array)).toBe(false);
  });
});
