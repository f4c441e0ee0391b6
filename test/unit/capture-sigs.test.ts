// Source signatures (SourceSigs): a capture with them must leave exactly the surface, dirty tiles
// and bounds a capture without them leaves, on every kind of change; the reference for the
// surface is a full pass of the same frame into a fresh buffer. Signatures vouch for the surface,
// so a surface changed behind them stays wrong until they are zeroed, and a planted collision
// lasts only until the periodic refresh (SourceSignatures).
import { describe, expect, it } from 'vitest';
import { native, type CaptureResult, type NativeMapping, type PlaneGeometry, type SourceSigs } from '../../src/native.js';
import { Fourcc, bytesPerPixel, type FourccName } from '../../src/surface/fourcc.js';
import { SIG_REFRESH_MS, SIG_REFRESH_PASSES, SourceSignatures } from '../../src/surface/source-sigs.js';
import { xorshift } from '../helpers/random.js';
import { mappedBytesFactory } from '../helpers/mapped-bytes.js';

const mapBytes = mappedBytesFactory('vgpu-sigs-');

function newSigs(width: number, height: number, segmentWidth: number, portableKernels?: boolean): SourceSigs {
  return { sigs: Buffer.alloc(height * Math.ceil(width / segmentWidth) * 8), segmentWidth, ...(portableKernels ? { portableKernels } : {}) };
}

/** The frame converted by a full pass into a fresh surface. */
function converted(mapping: NativeMapping, plane: PlaneGeometry, tile: number): Buffer {
  const fresh = Buffer.alloc(plane.width * plane.height * 4);
  native.captureSync(mapping, plane, fresh, tile, true);
  return fresh;
}

type ChangeKind = 'none' | 'pixel' | 'x-byte' | 'rects' | 'full' | 'back';

/** Applies one change to the source bytes (`older`: the frame before the previous one, for 'back'). */
function change(kind: ChangeKind, bytes: Uint8Array, older: Uint8Array, width: number, height: number, bpp: number, stride: number, rand: () => number): void {
  const at = (x: number, y: number) => y * stride + x * bpp;
  switch (kind) {
    case 'none':
      return;
    case 'pixel': {
      const p = at(rand() % width, rand() % height);
      for (let i = 0; i < bpp; i++) bytes[p + i] = rand() & 0xff;
      return;
    }
    case 'x-byte': // XRGB8888 only: the ignored top byte
      bytes[at(rand() % width, rand() % height) + 3] ^= 0xff;
      return;
    case 'rects':
      for (let k = 1 + (rand() % 5); k > 0; k--) {
        const w = 1 + (rand() % 40), h = 1 + (rand() % 20);
        const x0 = rand() % width, y0 = rand() % height;
        for (let y = y0; y < Math.min(height, y0 + h); y++) {
          for (let i = at(x0, y); i < at(Math.min(width, x0 + w), y); i++) bytes[i] = rand() & 0xff;
        }
      }
      return;
    case 'full':
      for (let i = 0; i < bytes.length; i++) bytes[i] = rand() & 0xff;
      return;
    case 'back':
      bytes.set(older);
  }
}

function sameResult(a: CaptureResult, b: CaptureResult, label: string): void {
  expect(b.dirtyCount, label).toBe(a.dirtyCount);
  expect(Buffer.from(b.dirty).equals(Buffer.from(a.dirty)), `${label}: dirty`).toBe(true);
  expect(Buffer.from(b.bounds).equals(Buffer.from(a.bounds)), `${label}: bounds`).toBe(true);
}

const FORMATS: FourccName[] = ['XRGB8888', 'BGRX8888', 'RGB888', 'BGR888', 'RGB565', 'XBGR2101010'];
const KINDS: ChangeKind[] = ['none', 'pixel', 'rects', 'x-byte', 'none', 'full', 'pixel', 'back', 'rects', 'none'];

describe('captures with source signatures', () => {
  for (const name of FORMATS) {
    it(`${name}: the same surface, dirty tiles and bounds as without, AVX2 and portable kernels alike`, async () => {
      const fourcc = Fourcc[name];
      const bpp = bytesPerPixel(fourcc)!;
      const rand = xorshift(0x5160 + fourcc);
      // Widths around the 16-pixel groups and segment ends; tiles that are and are not multiples of 16.
      for (const [width, height, tile, segment] of [[300, 37, 32, 256], [257, 20, 16, 64], [67, 41, 8, 40], [200, 30, 33, 231], [40, 9, 8, 8], [530, 12, 64, 256]] as const) {
        const stride = width * bpp + 12;
        const bytes = new Uint8Array(stride * height).map(() => rand() & 0xff);
        const mapping = mapBytes(bytes);
        const plane: PlaneGeometry = { fourcc, width, height, stride, offset: 0 };
        const plain = Buffer.alloc(width * height * 4);
        const signed = Buffer.alloc(plain.length);
        const portable = Buffer.alloc(plain.length);
        const sigs = newSigs(width, height, segment);
        const portableSigs = newSigs(width, height, segment, true);
        native.captureSync(mapping, plane, plain, tile, true);
        native.captureSync(mapping, plane, signed, tile, true, undefined, undefined, sigs);
        native.captureSync(mapping, plane, portable, tile, true, undefined, undefined, portableSigs);
        expect(sigs.sigs.equals(portableSigs.sigs)).toBe(true);
        let previous = Uint8Array.from(bytes), older = Uint8Array.from(bytes);
        for (const [round, kind] of KINDS.entries()) {
          if (kind === 'x-byte' && name !== 'XRGB8888') continue;
          const label = `${width}x${height} tile ${tile} segment ${segment} round ${round} (${kind})`;
          change(kind, bytes, older, width, height, bpp, stride, rand);
          [older, previous] = [previous, Uint8Array.from(bytes)];
          mapping.write(0, bytes);
          const a = native.captureSync(mapping, plane, plain, tile, false);
          const b = round % 2 ? await native.capture(mapping, plane, signed, tile, false, undefined, undefined, sigs) : native.captureSync(mapping, plane, signed, tile, false, undefined, undefined, sigs);
          const c = native.captureSync(mapping, plane, portable, tile, false, undefined, undefined, portableSigs);
          sameResult(a, b, label);
          sameResult(a, c, `${label} portable`);
          const expected = converted(mapping, plane, tile);
          expect(plain.equals(expected), label).toBe(true);
          expect(signed.equals(expected), label).toBe(true);
          expect(portable.equals(expected), label).toBe(true);
          expect(sigs.sigs.equals(portableSigs.sigs), `${label}: signatures`).toBe(true);
          if (kind === 'x-byte' || kind === 'none') expect(b.dirtyCount, label).toBe(0);
        }
        mapping.close();
      }
    });
  }

  it('every stored value is 0 (unknown), 1 (changed in the last pass) or a signature, as documented', () => {
    const width = 512, height = 4, tile = 32, segment = 256;
    const bytes = new Uint8Array(width * height * 4).fill(0x11);
    const mapping = mapBytes(bytes);
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(bytes.length);
    const sigs = newSigs(width, height, segment);
    const at = (y: number, s: number) => sigs.sigs.readBigUInt64LE((y * 2 + s) * 8);
    native.captureSync(mapping, plane, surface, tile, true, undefined, undefined, sigs);
    const signed = at(2, 1);
    expect(signed > 1n).toBe(true);
    // Row 2, segment 1 (pixels 256..511) changes.
    mapping.writeU32((2 * width + 300) * 4, 0x00abcdef);
    native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs);
    expect([at(2, 0) > 1n, at(2, 1), at(1, 1) === signed]).toEqual([true, 1n, true]);
    // Unchanged since: compared once more, then signed again (a new signature: new pixels).
    const again = native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs);
    expect(again.dirtyCount).toBe(0);
    expect(at(2, 1) > 1n && at(2, 1) !== signed).toBe(true);
    // Back to the old pixel: the old signature.
    mapping.writeU32((2 * width + 300) * 4, 0x00111111);
    native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs);
    native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs);
    expect(at(2, 1)).toBe(signed);
    mapping.close();
  });

  it('signatures are of the converted pixels: a flip to another buffer, stride and format with the same picture changes nothing', () => {
    const width = 300, height = 20, tile = 32;
    const rand = xorshift(0xf11b);
    // Buffer 0: XRGB8888, stride width*4. Buffer 1 (after it, other stride): the same picture as
    // XBGR8888 (R and B swapped), except one pixel.
    const words = Uint32Array.from({ length: width * height }, () => rand() & 0xffffff);
    const stride1 = width * 4 + 64, offset1 = width * height * 4;
    const bytes = Buffer.alloc(offset1 + stride1 * height);
    for (let i = 0; i < words.length; i++) {
      const v = words[i]!, y = Math.floor(i / width), x = i % width;
      bytes.writeUInt32LE(v, i * 4);
      bytes.writeUInt32LE(((v & 0xff) << 16) | (v & 0xff00) | (v >>> 16), offset1 + y * stride1 + x * 4);
    }
    const mapping = mapBytes(bytes);
    const first: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const flipped: PlaneGeometry = { fourcc: Fourcc.XBGR8888, width, height, stride: stride1, offset: offset1 };
    const surface = Buffer.alloc(width * height * 4);
    const sigs = newSigs(width, height, 256);
    native.captureSync(mapping, first, surface, tile, true, undefined, undefined, sigs);
    const same = native.captureSync(mapping, flipped, surface, tile, false, undefined, undefined, sigs);
    expect(same.dirtyCount).toBe(0);
    expect(surface.equals(converted(mapping, flipped, tile))).toBe(true);
    // One pixel of the flipped buffer differs: found exactly.
    mapping.writeU32(offset1 + 13 * stride1 + 290 * 4, 0x00010203);
    const one = native.captureSync(mapping, flipped, surface, tile, false, undefined, undefined, sigs);
    expect(one.dirtyCount).toBe(1);
    expect(one.dirty[Math.floor(290 / tile)]).toBe(1); // tile row 0
    expect(surface.equals(converted(mapping, flipped, tile))).toBe(true);
    mapping.close();
  });

  it('X-tiled planes give the same results with and without signatures', () => {
    const width = 200, height = 19, stride = 1024, tile = 16; // XRGB8888, two 512-byte tiles a row, rows padded to 24
    const rand = xorshift(0x7117);
    const bytes = new Uint8Array(stride * 24).map(() => rand() & 0xff);
    const mapping = mapBytes(bytes);
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride, offset: 0, modifier: 0x0100000000000001n };
    const plain = Buffer.alloc(width * height * 4);
    const signed = Buffer.alloc(plain.length);
    const sigs = newSigs(width, height, 128);
    native.captureSync(mapping, plane, plain, tile, true);
    native.captureSync(mapping, plane, signed, tile, true, undefined, undefined, sigs);
    for (let round = 0; round < 8; round++) {
      // Any bytes of the tiled buffer (some are padding, outside the picture).
      for (let k = round % 3 === 0 ? 0 : 1 + (rand() % 30); k > 0; k--) bytes[rand() % bytes.length] = rand() & 0xff;
      mapping.write(0, bytes);
      const a = native.captureSync(mapping, plane, plain, tile, false);
      const b = native.captureSync(mapping, plane, signed, tile, false, undefined, undefined, sigs);
      sameResult(a, b, `round ${round}`);
      const expected = converted(mapping, plane, tile);
      expect(signed.equals(expected), `round ${round}`).toBe(true);
      expect(plain.equals(expected), `round ${round}`).toBe(true);
    }
    mapping.close();
  });

  it('signatures vouch for the surface: pixels written behind them stay until they are zeroed', () => {
    const width = 96, height = 40, tile = 16;
    const rand = xorshift(0xbeef);
    const mapping = mapBytes(new Uint8Array(width * height * 4).map(() => rand() & 0xff));
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    const sigs = newSigs(width, height, 32);
    native.captureSync(mapping, plane, surface, tile, true, undefined, undefined, sigs);
    const right = Buffer.from(surface);
    // Drawn into the surface (as a no-signal screen would be) without telling the signatures.
    const [x, y] = [70, 21];
    surface.writeUInt32LE(0x00123456 ^ right.readUInt32LE((y * width + x) * 4), (y * width + x) * 4);
    const stale = native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs);
    expect(stale.dirtyCount).toBe(0);
    expect(surface.equals(right)).toBe(false);
    sigs.sigs.fill(0);
    const fixed = native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs);
    expect(fixed.dirtyCount).toBe(1);
    expect(fixed.dirty[Math.floor(y / tile) * Math.ceil(width / tile) + Math.floor(x / tile)]).toBe(1);
    expect([...fixed.bounds.subarray(((Math.floor(y / tile) * Math.ceil(width / tile)) + Math.floor(x / tile)) * 4).subarray(0, 4)]).toEqual([x % tile, y % tile, (x % tile) + 1, (y % tile) + 1]);
    expect(surface.equals(right)).toBe(true);
    // Zeroed signatures are rebuilt by that pass: the next one skips again and finds nothing.
    expect(native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, sigs).dirtyCount).toBe(0);
    mapping.close();
  });

  /**
   * A collision planted by hand: the signatures of the new frame (from a full pass into another
   * surface) written over the old surface's, where the source changed. The capture then believes
   * the old surface; SourceSignatures' refresh must end that.
   */
  function plantedCollision(book: SourceSignatures, now: number) {
    const width = 128, height = 48, tile = 32;
    const rand = xorshift(0xc0111);
    const bytes = new Uint8Array(width * height * 4).map(() => rand() & 0xff);
    const mapping = mapBytes(bytes);
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    const arg = book.forPass(now);
    native.captureSync(mapping, plane, surface, tile, true, undefined, undefined, arg);
    for (let y = 10; y < 14; y++) for (let x = 40; x < 50; x++) mapping.writeU32((y * width + x) * 4, 0x00ff00ff);
    const theirs: SourceSigs = { sigs: Buffer.alloc(arg.sigs.length), segmentWidth: arg.segmentWidth };
    native.captureSync(mapping, plane, Buffer.alloc(surface.length), tile, true, undefined, undefined, theirs);
    arg.sigs.set(theirs.sigs);
    return { mapping, plane, surface, tile, expected: converted(mapping, plane, tile) };
  }

  it(`a planted signature collision hides the change until the refresh every ${SIG_REFRESH_PASSES} passes`, () => {
    const book = new SourceSignatures(128, 48, 32, 0);
    const { mapping, plane, surface, tile, expected } = plantedCollision(book, 0);
    let passes = 1; // the full pass above
    for (;;) {
      passes++;
      const r = native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, book.forPass(0));
      if (r.dirtyCount > 0) {
        expect([...r.dirty]).toEqual([0, 1, 0, 0, 0, 0, 0, 0]); // pixels 40..49 × 10..13: tile (1, 0) of 4 × 2
        break;
      }
      expect(surface.equals(expected)).toBe(false);
      expect(passes).toBeLessThan(SIG_REFRESH_PASSES);
    }
    expect(passes).toBe(SIG_REFRESH_PASSES);
    expect(surface.equals(expected)).toBe(true);
    mapping.close();
  });

  it(`… or ${SIG_REFRESH_MS} ms, whichever comes first`, () => {
    const book = new SourceSignatures(128, 48, 32, 0);
    const { mapping, plane, surface, tile, expected } = plantedCollision(book, 0);
    expect(native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, book.forPass(SIG_REFRESH_MS - 1)).dirtyCount).toBe(0);
    expect(native.captureSync(mapping, plane, surface, tile, false, undefined, undefined, book.forPass(SIG_REFRESH_MS)).dirtyCount).toBe(1);
    expect(surface.equals(expected)).toBe(true);
    mapping.close();
  });

  it('SourceSignatures: segments of whole tiles near SIG_SEGMENT_PX; forget() zeroes', () => {
    for (const [tile, segment] of [[32, 256], [64, 256], [100, 200], [256, 256], [8, 256], [33, 231]] as const) {
      const arg = new SourceSignatures(1000, 3, tile, 0).forPass(0);
      expect(arg.segmentWidth, `tile ${tile}`).toBe(segment);
      expect(arg.sigs.length).toBe(3 * Math.ceil(1000 / segment) * 8);
    }
    const book = new SourceSignatures(10, 2, 8, 0);
    const arg = book.forPass(0);
    arg.sigs.fill(7);
    book.forget(0);
    expect(arg.sigs.every((b) => b === 0)).toBe(true);
  });

  it('bad sourceSigs → EINVAL naming the field', () => {
    const width = 64, height = 8;
    const mapping = mapBytes(new Uint8Array(width * height * 4));
    const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
    const surface = Buffer.alloc(width * height * 4);
    const bad: [unknown, RegExp][] = [
      [7, /sourceSigs must be an object/],
      [{ sigs: Buffer.alloc(height * 8), segmentWidth: 40 }, /sourceSigs\.segmentWidth must be a multiple of tileSize 16 in 16\.\.256, got 40/],
      [{ sigs: Buffer.alloc(8), segmentWidth: 272 }, /sourceSigs\.segmentWidth/],
      [{ sigs: Buffer.alloc(8), segmentWidth: 8 }, /sourceSigs\.segmentWidth/],
      [{ sigs: Buffer.alloc(height * 8), segmentWidth: 32 }, /sourceSigs\.sigs must be a Buffer of height\*ceil\(width\/segmentWidth\)\*8 = 128 bytes/],
      [{ sigs: new Uint16Array(64), segmentWidth: 32 }, /sourceSigs\.sigs/],
      [{ sigs: Buffer.alloc(128), segmentWidth: 32, portableKernels: 1 }, /sourceSigs\.portableKernels/],
    ];
    for (const [arg, message] of bad) {
      let error: NodeJS.ErrnoException | undefined;
      try {
        native.captureSync(mapping, plane, surface, 16, false, undefined, undefined, arg as never);
      } catch (err) {
        error = err as NodeJS.ErrnoException;
      }
      expect(error?.message).toMatch(message);
      expect(error?.code).toBe('EINVAL');
      expect(error?.message.includes('\n')).toBe(false);
    }
    mapping.close();
  });
});
