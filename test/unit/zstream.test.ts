// ZStream: one never-ending zlib stream, flushed (Z_SYNC_FLUSH) after every call,
// as ZRLE and Tight require. Decoded with node:zlib, an independent inflater.
import { createInflate, constants, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { native, type NativeZStream } from '../../src/native.js';

// The addon also takes parallelMinBytes (default 128 KiB; Infinity: never parallel).
const ZStream = native.ZStream as unknown as new (level: number, parallelMinBytes?: number) => NativeZStream;

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

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** Random bytes: deflate cannot shrink them. */
function noise(n: number, seed: number): Buffer {
  const r = lcg(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r() >>> 24;
  return b;
}

/** Compressible: short random runs of a few values, words from a small vocabulary. */
function texture(n: number, seed: number): Buffer {
  const r = lcg(seed);
  const b = Buffer.alloc(n);
  let i = 0;
  while (i < n) {
    const v = r();
    const len = 1 + ((v >>> 8) % 40);
    if (v & 1) b.fill((v >>> 16) & 7, i, Math.min(n, i + len));
    else b.write(['pixel', 'tile', 'frame', 'rect'][(v >>> 4) & 3], i, 'latin1');
    i += len;
  }
  return b;
}

/** Smooth gradient rows like a plasma frame's RGB (3 bytes a pixel). */
/** Smooth colours in 16 steps per channel: compressible (unquantised sines barely deflate and would go stored). */
function plasmaLike(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0, o = 0; y < h; y++) {
    for (let x = 0; x < w; x++, o += 3) {
      b[o] = (128 + 127 * Math.sin(x / 37 + y / 53)) & 0xf0;
      b[o + 1] = (128 + 127 * Math.sin(x / 23 - y / 41)) & 0xf0;
      b[o + 2] = (128 + 127 * Math.sin((x + y) / 61)) & 0xf0;
    }
  }
  return b;
}

/** Feeds each output to one createInflate and checks it yields exactly its input, at once. */
async function expectIncrementalDecode(outputs: Buffer[], inputs: Buffer[]): Promise<void> {
  const inflater = createInflate();
  const received: Buffer[] = [];
  inflater.on('data', (d: Buffer) => received.push(d));
  try {
    for (let i = 0; i < inputs.length; i++) {
      if (inputs[i].length === 0) {
        expect(outputs[i].length).toBe(0);
        continue;
      }
      received.length = 0;
      inflater.write(outputs[i]);
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          inflater.off('data', check);
          inflater.off('error', done);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (Buffer.concat(received).length >= inputs[i].length) done();
        };
        inflater.on('error', done);
        inflater.on('data', check);
        check();
      });
      expect(Buffer.concat(received).equals(inputs[i]), `call ${i} (${inputs[i].length} bytes)`).toBe(true);
    }
  } finally {
    inflater.destroy();
  }
}

describe('ZStream parallel deflate of large inputs', () => {
  // Sizes around the 128 KiB threshold and across many blocks, mixed with small calls.
  function mixedInputs(seed: number): Buffer[] {
    const r = lcg(seed);
    const inputs: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      const v = r();
      const big = v % 3 === 0;
      const n = big ? 128 * 1024 + ((v >>> 4) % (1200 * 1024)) : (v >>> 4) % 5000;
      const kind = (v >>> 28) % 3;
      inputs.push(kind === 0 ? noise(n, v) : texture(n, v));
      if (i % 7 === 3) inputs.push(Buffer.alloc(0));
    }
    // A small call that repeats the end of a large one: only decodable if the main stream's
    // window after the parallel call is the decoder's.
    const large = inputs.find((b) => b.length >= 128 * 1024)!;
    inputs.push(Buffer.from(large.subarray(large.length - 3000)));
    return inputs;
  }

  for (const [level, seed] of [[6, 1], [1, 2], [9, 3], [-1, 4]] as const) {
    it(`level ${level}: many calls mixing small and large inputs decode (one-shot and incremental)`, async () => {
      const inputs = mixedInputs(seed);
      const z = new ZStream(level);
      const outputs = inputs.map((input) => z.deflate(input));
      expect(((outputs[0][0] << 8) | outputs[0][1]) % 31).toBe(0);
      for (const out of outputs.filter((o) => o.length > 0)) expect([...out.subarray(out.length - 4)]).toEqual(SYNC_MARKER);
      const inflated = inflateSync(Buffer.concat(outputs), { finishFlush: constants.Z_SYNC_FLUSH });
      expect(inflated.equals(Buffer.concat(inputs))).toBe(true);
      await expectIncrementalDecode(outputs, inputs);
    });
  }

  it('a stream whose first call is large starts with a zlib header and decodes', async () => {
    const inputs = [texture(700_000, 9), Buffer.from('small'), noise(400_000, 10), texture(200, 11)];
    const z = new ZStream(6);
    const outputs = inputs.map((input) => z.deflate(input));
    expect(outputs[0][0]).toBe(0x78);
    expect(((outputs[0][0] << 8) | outputs[0][1]) % 31).toBe(0);
    expect(inflateSync(Buffer.concat(outputs), { finishFlush: constants.Z_SYNC_FLUSH }).equals(Buffer.concat(inputs))).toBe(true);
    await expectIncrementalDecode(outputs, inputs);
  });

  it('takes the parallel path (output differs from one stream) and keeps the ratio close', () => {
    const input = plasmaLike(1920, 270); // 1.5 MiB
    const parallel = new ZStream(6).deflate(input);
    const single = new ZStream(6, Infinity).deflate(input);
    expect(parallel.equals(single)).toBe(false);
    for (const out of [parallel, single]) {
      expect(inflateSync(out, { finishFlush: constants.Z_SYNC_FLUSH }).equals(input)).toBe(true);
    }
    // Each block is primed with the 32 KiB before it: only flush markers and block headers add.
    expect(parallel.length).toBeLessThan(single.length * 1.05);
  });

  it('the main stream continues with the parallel data as its window', () => {
    const large = noise(300_000, 21);
    const z = new ZStream(6);
    const first = z.deflate(large);
    const repeat = Buffer.from(large.subarray(large.length - 20_000));
    const second = z.deflate(repeat);
    // Incompressible by itself; a back-reference into the previous call makes it tiny.
    expect(second.length).toBeLessThan(1000);
    const inflated = inflateSync(Buffer.concat([first, second]), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.equals(Buffer.concat([large, repeat]))).toBe(true);
  });

  it('incompressible large inputs stay near their size and decode', () => {
    const input = noise(2 * 1024 * 1024 + 17, 31);
    const out = new ZStream(6).deflate(input);
    expect(out.length).toBeLessThan(input.length * 1.01);
    expect(inflateSync(out, { finishFlush: constants.Z_SYNC_FLUSH }).equals(input)).toBe(true);
  });

  it('noise goes in stored blocks (its bytes verbatim), and the stream compresses again after it', async () => {
    // The second starts with a little text, as a noisy frame with a clock in its corner.
    const inputs = [texture(50_000, 41), Buffer.concat([texture(6000, 45), noise(1_500_000, 42)]), texture(300_000, 43), Buffer.from('tail'), noise(400_000, 44)];
    const z = new ZStream(6);
    const outputs = inputs.map((input) => z.deflate(input));
    // Stored: the noise appears as it is (a Huffman-coded literal stream would not contain it).
    expect(outputs[1].includes(inputs[1].subarray(700_000, 700_400))).toBe(true);
    expect(outputs[4].includes(inputs[4].subarray(100_000, 100_400))).toBe(true);
    expect(outputs[1].length).toBeLessThan(inputs[1].length * 1.001);
    // The level comes back: texture deflates well again.
    expect(outputs[2].length).toBeLessThan(inputs[2].length / 2);
    expect(outputs[2].includes(inputs[2].subarray(1000, 1400))).toBe(false);
    for (const out of outputs) expect([...out.subarray(out.length - 4)]).toEqual(SYNC_MARKER);
    const inflated = inflateSync(Buffer.concat(outputs), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.equals(Buffer.concat(inputs))).toBe(true);
    await expectIncrementalDecode(outputs, inputs);
  });

  it('streams used in turn (as several clients would) each decode on their own', () => {
    const a = new ZStream(6);
    const b = new ZStream(1, 1); // every non-empty input parallel
    const inA: Buffer[] = [], outA: Buffer[] = [], inB: Buffer[] = [], outB: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      const x = i % 2 ? texture(300_000 + i, 40 + i) : texture(100 + i * 37, 50 + i);
      const y = i % 3 ? noise(5 + i * 1000, 60 + i) : texture(150_000, 70 + i);
      inA.push(x); outA.push(a.deflate(x));
      inB.push(y); outB.push(b.deflate(y));
    }
    expect(inflateSync(Buffer.concat(outA), { finishFlush: constants.Z_SYNC_FLUSH }).equals(Buffer.concat(inA))).toBe(true);
    expect(inflateSync(Buffer.concat(outB), { finishFlush: constants.Z_SYNC_FLUSH }).equals(Buffer.concat(inB))).toBe(true);
  });

  it('reset() after a parallel call starts a fresh stream', () => {
    const z = new ZStream(6);
    z.deflate(texture(500_000, 80));
    z.reset();
    const input = texture(400_000, 81);
    const out = z.deflate(input);
    expect(((out[0] << 8) | out[1]) % 31).toBe(0);
    expect(inflateSync(out, { finishFlush: constants.Z_SYNC_FLUSH }).equals(input)).toBe(true);
  });

  it('rejects a bad parallelMinBytes', () => {
    for (const bad of [0, -1, Number.NaN, 'big']) {
      expect(() => new ZStream(6, bad as number)).toThrow(/parallelMinBytes must be a number >= 1/);
    }
  });
});
