// ZStream: one never-ending zlib stream, flushed (Z_SYNC_FLUSH) after every call,
// as ZRLE and Tight require. Decoded with node:zlib, an independent inflater.
import { createInflate, constants, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';

const SYNC_MARKER = [0x00, 0x00, 0xff, 0xff];

function chunks(): Buffer[] {
  const noisy = Buffer.alloc(300_000);
  let s = 12345;
  for (let i = 0; i < noisy.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    noisy[i] = s >>> 24; // incompressible: forces output larger than one guess
  }
  return [
    Buffer.from('hello, zlib stream '.repeat(50)),
    Buffer.alloc(0),
    Buffer.alloc(100_000, 0xab),
    noisy,
    Buffer.from('the end of this batch'),
  ];
}

describe('ZStream', () => {
  it('outputs concatenate into one zlib stream that inflates to the concatenated inputs', () => {
    const z = new native.ZStream(6);
    const inputs = chunks();
    const outputs = inputs.map((input) => z.deflate(input));
    // zlib header (RFC 1950): CM = 8, (CMF*256 + FLG) % 31 == 0, only on the first chunk.
    expect(outputs[0][0] & 0x0f).toBe(8);
    expect(((outputs[0][0] << 8) | outputs[0][1]) % 31).toBe(0);
    // Every call ends in a sync flush; an empty input after a flush adds nothing.
    expect(outputs[1].length).toBe(0);
    for (const out of outputs.filter((o) => o.length > 0)) expect([...out.subarray(out.length - 4)]).toEqual(SYNC_MARKER);
    const inflated = inflateSync(Buffer.concat(outputs), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.equals(Buffer.concat(inputs))).toBe(true);
  });

  it('each chunk decodes as soon as it arrives (incremental inflater)', async () => {
    const z = new native.ZStream(1);
    const inflater = createInflate();
    const received: Buffer[] = [];
    inflater.on('data', (d: Buffer) => received.push(d));
    for (const input of chunks()) {
      if (input.length === 0) continue;
      received.length = 0;
      inflater.write(z.deflate(input));
      // Wait until this chunk's bytes are all out, without ending the stream (inflate runs
      // on the thread pool: wait for its output, not for a number of loop turns).
      await new Promise<void>((resolve) => {
        const check = () => {
          if (Buffer.concat(received).length < input.length) return;
          inflater.off('data', check);
          resolve();
        };
        inflater.on('data', check);
        check();
      });
      expect(Buffer.concat(received).equals(input)).toBe(true);
    }
    inflater.destroy();
  });

  it('reset() starts a fresh stream with a new header', () => {
    const z = new native.ZStream(9);
    z.deflate(Buffer.from('state that must be forgotten'));
    z.reset();
    const out = z.deflate(Buffer.from('fresh'));
    expect(((out[0] << 8) | out[1]) % 31).toBe(0);
    expect(inflateSync(out, { finishFlush: constants.Z_SYNC_FLUSH }).toString()).toBe('fresh');
  });

  it('level 0 (stored) and -1 (default) work; other levels are rejected', () => {
    for (const level of [0, -1]) {
      const z = new native.ZStream(level);
      const input = Buffer.from('abc'.repeat(1000));
      const out = z.deflate(input);
      expect(inflateSync(out, { finishFlush: constants.Z_SYNC_FLUSH }).equals(input)).toBe(true);
    }
    for (const bad of [10, -2, 1.5, Number.NaN]) {
      expect(() => new native.ZStream(bad)).toThrow(RangeError);
    }
    const z = new native.ZStream(6);
    expect(() => z.deflate('text' as unknown as Uint8Array)).toThrow(/must be a Buffer/);
  });
});
