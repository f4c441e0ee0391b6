// ZStream.deflateAsync: the same stream as deflate(), computed off the JS thread; calls on
// one stream must not overlap.
import { constants, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** Mixed inputs: small text, runs, noise, one big enough for the parallel path, an empty one. */
function inputs(): Buffer[] {
  const r = lcg(7);
  const noise = Buffer.alloc(40_000);
  for (let i = 0; i < noise.length; i++) noise[i] = r() >>> 24;
  const big = Buffer.alloc(600_000);
  for (let i = 0; i < big.length; i++) big[i] = (i >> 6) & 0xff ^ (r() >>> 30);
  return [Buffer.from('first call '.repeat(20)), Buffer.alloc(0), noise, Buffer.alloc(9000, 7), big, Buffer.from('tail')];
}

describe('ZStream.deflateAsync', () => {
  it('continues the same stream as deflate(): mixed calls inflate to the concatenated inputs', async () => {
    const z = new native.ZStream(6);
    const outs: Buffer[] = [];
    const ins = inputs();
    for (let i = 0; i < ins.length; i++) outs.push(i % 2 === 0 ? await z.deflateAsync(ins[i]!) : z.deflate(ins[i]!));
    expect(outs[1]!.length).toBe(0); // empty input after a flush adds nothing
    const inflated = inflateSync(Buffer.concat(outs), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.equals(Buffer.concat(ins))).toBe(true);
  });

  it('gives byte-for-byte what deflate() gives on a twin stream', async () => {
    const a = new native.ZStream(1);
    const b = new native.ZStream(1);
    for (const input of inputs()) expect((await a.deflateAsync(input)).equals(b.deflate(input))).toBe(true);
  });

  it('refuses overlapping calls on one stream with EBUSY, and works again once settled', async () => {
    const z = new native.ZStream(6);
    const input = Buffer.alloc(300_000, 3);
    const pending = z.deflateAsync(input);
    expect(() => z.deflateAsync(input)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(() => z.deflate(input)).toThrow(/must not overlap/);
    expect(() => z.reset()).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    const first = await pending;
    const second = await z.deflateAsync(Buffer.from('after'));
    const inflated = inflateSync(Buffer.concat([first, second]), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.equals(Buffer.concat([input, Buffer.from('after')]))).toBe(true);
  });

  it('rejects a non-Uint8Array input with a TypeError', () => {
    const z = new native.ZStream(6);
    expect(() => z.deflateAsync('text' as unknown as Uint8Array)).toThrow(/must be a Buffer/);
  });
});
