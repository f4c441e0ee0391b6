// capture(): pixel conversion for every fourcc, dirty tiles, geometry
// validation and SIGBUS, against real files mapped by the native addon.
// Expected pixels are built from the drm_fourcc.h layout comments, not from
// the implementation.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native, type CaptureProbe, type NativeMapping, type PlaneGeometry, type SourceSigs } from '../../src/native.js';
import { xorshift as rng } from '../helpers/random.js';

const dir = mkdtempSync(join(tmpdir(), 'vgpu-capture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;

function mapBytes(bytes: Uint8Array): { mapping: NativeMapping; path: string } {
  const path = join(dir, `plane-${fileCount++}.bin`);
  writeFileSync(path, bytes);
  return { mapping: new native.Mapping(path), path };
}

const fourccCode = (s: string): number =>
  (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;

// drm_fourcc.h: "[bits] fields sizes little endian", fields listed from the
// most significant end; 'x'/'A' are ignored by the converter.
interface Layout {
  name: string;
  code: string;
  fields: string; // e.g. 'x:R:G:B'
  sizes: string; // e.g. '8:8:8:8'
}

const LAYOUTS: Layout[] = [
  { name: 'XRGB8888', code: 'XR24', fields: 'x:R:G:B', sizes: '8:8:8:8' },
  { name: 'ARGB8888', code: 'AR24', fields: 'A:R:G:B', sizes: '8:8:8:8' },
  { name: 'XBGR8888', code: 'XB24', fields: 'x:B:G:R', sizes: '8:8:8:8' },
  { name: 'ABGR8888', code: 'AB24', fields: 'A:B:G:R', sizes: '8:8:8:8' },
  { name: 'RGBX8888', code: 'RX24', fields: 'R:G:B:x', sizes: '8:8:8:8' },
  { name: 'BGRX8888', code: 'BX24', fields: 'B:G:R:x', sizes: '8:8:8:8' },
  { name: 'RGB888', code: 'RG24', fields: 'R:G:B', sizes: '8:8:8' },
  { name: 'BGR888', code: 'BG24', fields: 'B:G:R', sizes: '8:8:8' },
  { name: 'RGB565', code: 'RG16', fields: 'R:G:B', sizes: '5:6:5' },
  { name: 'XRGB2101010', code: 'XR30', fields: 'x:R:G:B', sizes: '2:10:10:10' },
  { name: 'XBGR2101010', code: 'XB30', fields: 'x:B:G:R', sizes: '2:10:10:10' },
];

interface Field {
  channel: string;
  shift: number;
  bits: number;
}

function parseLayout(layout: Layout): { bpp: number; fields: Field[] } {
  const names = layout.fields.split(':');
  const sizes = layout.sizes.split(':').map(Number);
  const total = sizes.reduce((a, b) => a + b, 0);
  let shift = total;
  const fields = names.map((channel, i) => {
    shift -= sizes[i];
    return { channel, shift, bits: sizes[i] };
  });
  return { bpp: total / 8, fields };
}

// Widening rule from the task: replicate top bits below 8, keep the top 8 above.
function to8(value: number, bits: number): number {
  if (bits === 8) return value;
  if (bits > 8) return value >> (bits - 8);
  return ((value << (8 - bits)) | (value >> (2 * bits - 8))) & 0xff;
}

// Deterministic pseudo-random numbers (xorshift32) so failures reproduce.
interface Image {
  bytes: Uint8Array;
  plane: PlaneGeometry;
  expected: Buffer;
}

/** A plane of random pixels (padding in every stride, an odd offset) and its expected XRGB8888 surface. */
function buildImage(layout: Layout, width: number, height: number, seed: number, offset = 7, pad = 5, tail = 11): Image {
  const { bpp, fields } = parseLayout(layout);
  const stride = width * bpp + pad;
  const bytes = new Uint8Array(offset + stride * height + tail);
  const rand = rng(seed);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rand() & 0xff; // garbage in padding too
  const expected = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let word = 0n;
      const rgb: Record<string, number> = {};
      for (const f of fields) {
        const v = rand() & ((1 << f.bits) - 1);
        word |= BigInt(v) << BigInt(f.shift);
        if (f.channel === 'R' || f.channel === 'G' || f.channel === 'B') rgb[f.channel] = to8(v, f.bits);
      }
      const at = offset + y * stride + x * bpp;
      for (let b = 0; b < bpp; b++) bytes[at + b] = Number((word >> BigInt(8 * b)) & 0xffn); // little endian
      const out = (y * width + x) * 4;
      expected[out] = rgb.B;
      expected[out + 1] = rgb.G;
      expected[out + 2] = rgb.R;
      expected[out + 3] = 0;
    }
  }
  const plane = { fourcc: fourccCode(layout.code), width, height, stride, offset };
  return { bytes, plane, expected };
}

describe('supported formats', () => {
  it('lists exactly the eleven fourccs of drm_fourcc.h we convert', () => {
    const expected = LAYOUTS.map((l) => fourccCode(l.code)).sort();
    expect([...native.supportedFourccs()].sort()).toEqual(expected);
    // Spot-check against the numbers quoted in REFERENCE.md §4.
    expect(fourccCode('XR24')).toBe(0x34325258);
    expect(fourccCode('RG16')).toBe(0x36314752);
    expect(fourccCode('XB30')).toBe(0x30334258);
  });
});

describe('conversion to XRGB8888', () => {
  for (const layout of LAYOUTS) {
    it(`${layout.name}: random pixels, padded stride, odd offset`, async () => {
      const image = buildImage(layout, 37, 19, 0x1234 + layout.code.charCodeAt(1));
      const { mapping } = mapBytes(image.bytes);
      const surface = Buffer.alloc(image.expected.length, 0x5a);
      const sync = native.captureSync(mapping, image.plane, surface, 16, false);
      expect(surface.equals(image.expected)).toBe(true);
      expect(sync.dirtyCount).toBe(3 * 2);

      const asyncSurface = Buffer.alloc(image.expected.length, 0x5a);
      const result = await native.capture(mapping, image.plane, asyncSurface, 8, true);
      expect(asyncSurface.equals(image.expected)).toBe(true);
      expect(result.dirtyCount).toBe(5 * 3);
      mapping.close();
    });
  }

  // Literal byte orders for one pixel R=0x11 G=0x22 B=0x33 (X/A = 0xEE),
  // straight from the layouts: each must become bytes 33 22 11 00.
  const literal: [string, number[]][] = [
    ['XR24', [0x33, 0x22, 0x11, 0xee]],
    ['AR24', [0x33, 0x22, 0x11, 0xee]],
    ['XB24', [0x11, 0x22, 0x33, 0xee]],
    ['AB24', [0x11, 0x22, 0x33, 0xee]],
    ['RX24', [0xee, 0x33, 0x22, 0x11]],
    ['BX24', [0xee, 0x11, 0x22, 0x33]],
    ['RG24', [0x33, 0x22, 0x11]],
    ['BG24', [0x11, 0x22, 0x33]],
  ];
  for (const [code, pixel] of literal) {
    it(`${code}: bytes ${pixel.map((b) => b.toString(16)).join(' ')} → 33 22 11 00`, () => {
      const { mapping } = mapBytes(Uint8Array.from(pixel));
      const surface = Buffer.alloc(4, 0xff);
      native.captureSync(mapping, { fourcc: fourccCode(code), width: 1, height: 1, stride: pixel.length, offset: 0 }, surface, 8, false);
      expect([...surface]).toEqual([0x33, 0x22, 0x11, 0x00]);
      mapping.close();
    });
  }

  it('RG16 and XR30 extremes widen as specified', () => {
    // RGB565 0xF81F = R 31, G 0, B 31 → ff 00 ff; 0x07E0 = G 63 → 00 ff 00; 0x0841 = 1,2,1 → 08 08 08.
    const { mapping } = mapBytes(Uint8Array.from([0x1f, 0xf8, 0xe0, 0x07, 0x41, 0x08]));
    const surface = Buffer.alloc(12);
    native.captureSync(mapping, { fourcc: fourccCode('RG16'), width: 3, height: 1, stride: 6, offset: 0 }, surface, 8, false);
    expect([...surface]).toEqual([0xff, 0x00, 0xff, 0, 0x00, 0xff, 0x00, 0, 0x08, 0x08, 0x08, 0]);
    // XRGB2101010: R = 0x3ff, G = 0x200, B = 0x003 → R ff, G 80, B 00.
    const word = (0x3 << 30) | (0x3ff << 20) | (0x200 << 10) | 0x003;
    const buf = Buffer.alloc(4);
    buf.writeUInt32LE(word >>> 0);
    const m2 = mapBytes(buf).mapping;
    const s2 = Buffer.alloc(4);
    native.captureSync(m2, { fourcc: fourccCode('XR30'), width: 1, height: 1, stride: 4, offset: 0 }, s2, 8, false);
    expect([...s2]).toEqual([0x00, 0x80, 0xff, 0]);
    mapping.close();
    m2.close();
  });
});

describe('dirty tiles', () => {
  const width = 100;
  const height = 70;
  const tile = 16; // 7 × 5 tiles, the last column and row partial
  const stride = width * 4 + 12;
  const plane: PlaneGeometry = { fourcc: fourccCode('XR24'), width, height, stride, offset: 0 };

  function setup() {
    const image = buildImage(LAYOUTS[0], width, height, 99);
    // buildImage uses its own offset/stride; rebuild a plain file with ours.
    const bytes = Buffer.alloc(stride * height);
    for (let y = 0; y < height; y++) {
      image.expected.copy(bytes, y * stride, y * width * 4, (y + 1) * width * 4);
    }
    const { mapping, path } = mapBytes(bytes);
    const surface = Buffer.alloc(width * height * 4);
    return { mapping, path, surface, expected: Buffer.from(image.expected) };
  }

  function dirtyTiles(dirty: Uint8Array): number[] {
    return [...dirty.keys()].filter((i) => dirty[i] === 1);
  }

  it('first capture from a blank surface dirties every tile; an unchanged frame none', () => {
    const { mapping, surface, expected } = setup();
    const first = native.captureSync(mapping, plane, surface, tile, false);
    expect(first.tilesX).toBe(7);
    expect(first.tilesY).toBe(5);
    expect(first.dirty.length).toBe(35);
    expect(first.dirtyCount).toBe(35);
    expect(surface.equals(expected)).toBe(true);
    const second = native.captureSync(mapping, plane, surface, tile, false);
    expect(second.dirtyCount).toBe(0);
    expect(dirtyTiles(second.dirty)).toEqual([]);
    mapping.close();
  });

  it('one changed pixel dirties exactly its tile, including partial edge tiles', async () => {
    const { mapping, surface, expected } = setup();
    native.captureSync(mapping, plane, surface, tile, false);
    for (const [x, y] of [[37, 50], [99, 69], [0, 0], [96, 15]]) {
      const at = y * stride + x * 4;
      const old = mapping.readU32(at);
      const changed = (old ^ 0x000100) >>> 0; // flip one green bit
      mapping.writeU32(at, changed);
      const result = await native.capture(mapping, plane, surface, tile, false);
      const tileIndex = Math.floor(y / tile) * 7 + Math.floor(x / tile);
      expect(result.dirtyCount).toBe(1);
      expect(dirtyTiles(result.dirty)).toEqual([tileIndex]);
      expected.writeUInt32LE(changed & 0xffffff, (y * width + x) * 4);
      expect(surface.equals(expected)).toBe(true);
    }
    mapping.close();
  });

  it('a change in the ignored X byte is not a change', () => {
    const { mapping, surface } = setup();
    native.captureSync(mapping, plane, surface, tile, false);
    const at = 40 * stride + 40 * 4;
    mapping.writeU32(at, (mapping.readU32(at) ^ 0xff000000) >>> 0);
    expect(native.captureSync(mapping, plane, surface, tile, false).dirtyCount).toBe(0);
    mapping.close();
  });

  it('full=true marks every tile dirty even when nothing changed', () => {
    const { mapping, surface, expected } = setup();
    native.captureSync(mapping, plane, surface, tile, false);
    const result = native.captureSync(mapping, plane, surface, tile, true);
    expect(result.dirtyCount).toBe(35);
    expect(dirtyTiles(result.dirty).length).toBe(35);
    expect(surface.equals(expected)).toBe(true);
    mapping.close();
  });
});

describe('geometry validation (EINVAL before any read)', () => {
  const width = 8;
  const height = 4;
  const good: PlaneGeometry = { fourcc: fourccCode('XR24'), width, height, stride: 32, offset: 0 };
  const size = 32 * height;

  const cases: [string, Partial<PlaneGeometry> | Record<string, unknown>, RegExp][] = [
    ['unknown fourcc', { fourcc: fourccCode('YUYV') }, /fourcc YUYV \(0x56595559\)/],
    ['fourcc not a number', { fourcc: 'XR24' }, /plane\.fourcc/],
    ['width 0', { width: 0 }, /plane\.width/],
    ['width 16385', { width: 16385 }, /plane\.width/],
    ['width fractional', { width: 7.5 }, /plane\.width/],
    ['height 0', { height: 0 }, /plane\.height/],
    ['height 16385', { height: 16385 }, /plane\.height/],
    ['height missing', { height: undefined }, /plane\.height/],
    ['stride below width*4', { stride: 31 }, /plane\.stride/],
    ['stride above 1 MiB', { stride: 2 ** 20 + 4 }, /plane\.stride/],
    ['offset negative', { offset: -4 }, /plane\.offset/],
    ['offset pushes the plane past the mapping', { offset: 1 }, /exceeds the mapping size/],
    ['stride*(height-1) past the mapping', { stride: 36 }, /exceeds the mapping size/],
    ['huge offset (64-bit arithmetic)', { offset: 2 ** 52 }, /exceeds the mapping size/],
  ];

  for (const [label, change, message] of cases) {
    it(`${label} → EINVAL naming the field`, async () => {
      const { mapping } = mapBytes(new Uint8Array(size));
      const plane = { ...good, ...change } as PlaneGeometry;
      const surface = Buffer.alloc(width * height * 4, 0x77);
      let thrown: unknown;
      try {
        native.captureSync(mapping, plane, surface, 8, false);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(message) });
      expect(String((thrown as Error).message)).not.toContain('\n');
      await expect(native.capture(mapping, plane, surface, 8, false)).rejects.toMatchObject({
        code: 'EINVAL',
        message: expect.stringMatching(message),
      });
      expect(surface.every((b) => b === 0x77)).toBe(true);
      mapping.close();
    });
  }

  it('surface of the wrong length, tileSize out of 8..256, bad mapping → EINVAL', async () => {
    const { mapping } = mapBytes(new Uint8Array(size));
    const surface = Buffer.alloc(width * height * 4);
    const bad: [unknown[], RegExp][] = [
      [[mapping, good, Buffer.alloc(width * height * 4 - 1), 8, false], /surface\.length/],
      [[mapping, good, new Uint16Array(width * height * 2), 8, false], /surface must be/],
      [[mapping, good, surface, 7, false], /tileSize/],
      [[mapping, good, surface, 257, false], /tileSize/],
      [[mapping, good, surface, Number.NaN, false], /tileSize/],
      [[{ size: 1 << 20 }, good, surface, 8, false], /mapping must be a Mapping/],
    ];
    for (const [args, message] of bad) {
      const call = native.capture as unknown as (...a: unknown[]) => Promise<unknown>;
      await expect(call(...args)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(message) });
      const callSync = native.captureSync as unknown as (...a: unknown[]) => unknown;
      expect(() => callSync(...args)).toThrow(message);
    }
    mapping.close();
  });

  it('validates against the mapped size, not the file: bad geometry on a truncated file is EINVAL, not SIGBUS', () => {
    const { mapping, path } = mapBytes(new Uint8Array(size));
    truncateSync(path, 0);
    const surface = Buffer.alloc(width * height * 4);
    expect(() => native.captureSync(mapping, { ...good, width: 0 }, surface, 8, false)).toThrow(/plane\.width/);
    mapping.close();
  });
});

describe('the mapping vanishing under a capture', () => {
  it('truncating the file makes capture reject with SIGBUS, repeatedly, and the process survives', async () => {
    const width = 256;
    const height = 256;
    const plane: PlaneGeometry = { fourcc: fourccCode('XR24'), width, height, stride: width * 4, offset: 0 };
    const { mapping, path } = mapBytes(new Uint8Array(width * height * 4).fill(3));
    const surface = Buffer.alloc(width * height * 4);
    expect((await native.capture(mapping, plane, surface, 64, false)).dirtyCount).toBe(16);
    truncateSync(path, 0);
    for (let i = 0; i < 3; i++) {
      await expect(native.capture(mapping, plane, surface, 64, true)).rejects.toMatchObject({ code: 'SIGBUS' });
      expect(() => native.captureSync(mapping, plane, surface, 64, false)).toThrow(expect.objectContaining({ code: 'SIGBUS' }));
    }
    // Pages come back when the file grows again: the same mapping works.
    truncateSync(path, width * height * 4);
    const result = native.captureSync(mapping, plane, surface, 64, false);
    expect(result.dirtyCount).toBe(16); // the file now reads as zeros
    mapping.close();
  });

  it('close() while a capture is pending waits for it; afterwards the mapping is closed', async () => {
    const width = 1920;
    const height = 1080;
    const plane: PlaneGeometry = { fourcc: fourccCode('XR24'), width, height, stride: width * 4, offset: 0 };
    const bytes = new Uint8Array(width * height * 4);
    const rand = rng(7);
    for (let i = 0; i < bytes.length; i += 4) bytes[i] = rand() & 0xff;
    const { mapping } = mapBytes(bytes);
    const surface = Buffer.alloc(width * height * 4);
    const pending = [native.capture(mapping, plane, surface, 64, false), native.capture(mapping, plane, Buffer.alloc(surface.length), 64, true)];
    mapping.close();
    mapping.close();
    expect(() => mapping.readU32(0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    await expect(native.capture(mapping, plane, surface, 64, false)).rejects.toMatchObject({ code: 'EBADF' });
    const results = await Promise.all(pending);
    expect(results[1].dirtyCount).toBe(30 * 17);
    for (let i = 0; i < bytes.length; i += 4) {
      if (surface[i] !== bytes[i]) throw new Error(`surface differs at byte ${i}`);
    }
    expect(() => native.captureSync(mapping, plane, surface, 64, false)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});

describe('vector kernels (8 pixels per step where the CPU allows)', () => {
  for (const layout of LAYOUTS) {
    it(`${layout.name}: every width around the group size converts and compares exactly`, () => {
      for (const width of [1, 2, 3, 5, 7, 8, 9, 10, 15, 16, 17, 23, 24, 25, 31, 33, 41]) {
        const image = buildImage(layout, width, 3, width * 31 + layout.code.charCodeAt(0));
        const { mapping } = mapBytes(image.bytes);
        for (const tile of [8, 16]) {
          const surface = Buffer.alloc(image.expected.length, 0x5a);
          native.captureSync(mapping, image.plane, surface, tile, false);
          expect(surface.equals(image.expected), `width ${width} tile ${tile}`).toBe(true);
          expect(native.captureSync(mapping, image.plane, surface, tile, false).dirtyCount).toBe(0);
          const full = Buffer.alloc(image.expected.length, 0x5a);
          native.captureSync(mapping, image.plane, full, tile, true);
          expect(full.equals(image.expected), `full, width ${width} tile ${tile}`).toBe(true);
        }
        mapping.close();
      }
    });

    it(`${layout.name}: a plane ending exactly where the file ends is never read past (no SIGBUS)`, async () => {
      // 1024 × 4 pixels of 2, 3 or 4 bytes fill whole pages. Map one page more, then cut the file
      // back to the plane: a read of even one byte past the plane is a SIGBUS.
      const image = buildImage(layout, 1024, 4, 0x77 + layout.code.charCodeAt(2), 0, 0, 0);
      expect(image.bytes.length % 4096).toBe(0);
      const padded = new Uint8Array(image.bytes.length + 4096);
      padded.set(image.bytes);
      const { mapping, path } = mapBytes(padded);
      truncateSync(path, image.bytes.length);
      const surface = Buffer.alloc(image.expected.length);
      await native.capture(mapping, image.plane, surface, 64, false);
      expect(surface.equals(image.expected)).toBe(true);
      const again = Buffer.alloc(image.expected.length);
      await native.capture(mapping, image.plane, again, 64, true);
      expect(again.equals(image.expected)).toBe(true);
      mapping.close();
    });
  }
});

describe('idle probe', () => {
  const width = 64;
  const height = 48;
  const plane: PlaneGeometry = { fourcc: fourccCode('XR24'), width, height, stride: width * 4, offset: 0 };
  const SEGMENT = 32; // two segments a row

  function setup() {
    const image = buildImage(LAYOUTS[0], width, height, 4242, 0, 0, 0);
    const { mapping } = mapBytes(image.bytes);
    const surface = Buffer.alloc(width * height * 4);
    native.captureSync(mapping, plane, surface, 16, false);
    // All 0 (unknown): the surface decides until the probe has signed a segment.
    return { mapping, surface, sigs: { sigs: Buffer.alloc(height * (width / SEGMENT) * 8), segmentWidth: SEGMENT } };
  }
  const sigOf = (s: { sigs: Buffer }, y: number, segment = 0) => s.sigs.readBigUInt64LE((y * (width / SEGMENT) + segment) * 8);
  const probeWith = (m: NativeMapping, surface: Buffer, sigs: SourceSigs, probe: CaptureProbe) =>
    native.captureSync(m, plane, surface, 16, false, probe, undefined, sigs);

  it('looks at rows phase, phase+step, … only, signs their segments and never writes the surface', () => {
    const { mapping, surface, sigs } = setup();
    const before = Buffer.from(surface);
    const r = probeWith(mapping, surface, sigs, { rowStep: 16, phase: 3 });
    expect([r.probeOnly, r.probeChanged, r.dirtyCount]).toEqual([true, false, 0]);
    expect([...r.dirty].every((d) => d === 0)).toBe(true);
    for (let y = 0; y < height; y++) for (const s of [0, 1]) expect(sigOf(sigs, y, s) !== 0n, `row ${y}`).toBe(y % 16 === 3);
    expect(surface.equals(before)).toBe(true);
    mapping.close();
  });

  it('a changed pixel is seen by the probe of its row only; then the full pass updates it', () => {
    const { mapping, surface, sigs } = setup();
    for (let phase = 0; phase < 16; phase++) probeWith(mapping, surface, sigs, { rowStep: 16, phase });
    const [x, y] = [50, 37]; // row 37: phase 5
    const at = (y * width + x) * 4;
    mapping.writeU32(at, (mapping.readU32(at) ^ 0x00808080) >>> 0);
    for (let phase = 0; phase < 16; phase++) {
      if (phase === 5) continue;
      const r = probeWith(mapping, surface, sigs, { rowStep: 16, phase });
      expect([r.probeOnly, r.probeChanged], `phase ${phase}`).toEqual([true, false]);
    }
    const stop = probeWith(mapping, surface, sigs, { rowStep: 16, phase: 5, fullPassOnChange: false });
    expect([stop.probeOnly, stop.probeChanged, stop.dirtyCount]).toEqual([true, true, 0]);
    expect(surface.readUInt32LE(at)).not.toBe(mapping.readU32(at) & 0xffffff);
    const r = probeWith(mapping, surface, sigs, { rowStep: 16, phase: 5 });
    expect([r.probeOnly, r.probeChanged, r.dirtyCount]).toEqual([false, true, 1]);
    expect(r.dirty[Math.floor(y / 16) * 4 + Math.floor(x / 16)]).toBe(1);
    expect(surface.readUInt32LE(at)).toBe(mapping.readU32(at) & 0xffffff);
    mapping.close();
  });

  it('a change of the ignored X byte only keeps the segment\'s signature: the surface is not consulted', () => {
    const { mapping, surface, sigs } = setup();
    probeWith(mapping, surface, sigs, { rowStep: 8, phase: 2 });
    const old = sigOf(sigs, 10);
    expect(old > 1n).toBe(true);
    mapping.writeU32(10 * width * 4, (mapping.readU32(10 * width * 4) ^ 0xff000000) >>> 0);
    // Were the surface asked, this would count as a change: the signature vouches for it instead.
    surface.writeUInt32LE(surface.readUInt32LE(10 * width * 4) ^ 0x00ffffff, 10 * width * 4);
    const r = probeWith(mapping, surface, sigs, { rowStep: 8, phase: 2 });
    expect([r.probeOnly, r.probeChanged]).toEqual([true, false]);
    expect(sigOf(sigs, 10)).toBe(old);
    mapping.close();
  });

  it('a stale signature is replaced by the segment\'s own once the surface says it is unchanged', () => {
    const { mapping, surface, sigs } = setup();
    probeWith(mapping, surface, sigs, { rowStep: 8, phase: 2 });
    const good = sigOf(sigs, 10);
    sigs.sigs.writeBigUInt64LE(0x1234567890abcdefn, 10 * (width / SEGMENT) * 8); // a signature of something else
    const r = probeWith(mapping, surface, sigs, { rowStep: 8, phase: 2 });
    expect([r.probeOnly, r.probeChanged]).toEqual([true, false]);
    expect(sigOf(sigs, 10)).toBe(good);
    mapping.close();
  });

  for (const layout of LAYOUTS) {
    it(`${layout.name}: every probed row of a changed pixel reports it, the others do not`, async () => {
      const image = buildImage(layout, 37, 19, 0x99 + layout.code.charCodeAt(1));
      const { mapping } = mapBytes(image.bytes);
      const surface = Buffer.alloc(image.expected.length);
      const sigs = { sigs: Buffer.alloc(19 * Math.ceil(37 / 16) * 8), segmentWidth: 16 };
      native.captureSync(mapping, image.plane, surface, 8, false);
      const bpp = parseLayout(layout).bpp;
      const [x, y] = [29, 13];
      const at = image.plane.offset + y * image.plane.stride + x * bpp;
      const probe = (phase: number) => native.capture(mapping, image.plane, surface, 8, false, { rowStep: 4, phase, fullPassOnChange: false }, undefined, sigs);
      for (let phase = 0; phase < 4; phase++) expect((await probe(phase)).probeChanged).toBe(false);
      mapping.write(at, Uint8Array.from(mapping.read(at, bpp), (b) => b ^ 0xff)); // every channel changes
      for (let phase = 0; phase < 4; phase++) expect((await probe(phase)).probeChanged, `phase ${phase}`).toBe(phase === y % 4);
      mapping.close();
    });
  }

  it('bad probe arguments → EINVAL naming the field', () => {
    const { mapping, surface, sigs } = setup();
    const bad: [unknown, SourceSigs | undefined, RegExp][] = [
      [{ rowStep: 16, phase: 0 }, undefined, /probe needs sourceSigs/],
      [{ rowStep: 0, phase: 0 }, sigs, /probe\.rowStep/],
      [{ rowStep: 4, phase: 4 }, sigs, /probe\.phase/],
      [{ rowStep: 4, phase: 0, fullPassOnChange: 1 }, sigs, /probe\.fullPassOnChange/],
      [7, sigs, /probe must be an object/],
    ];
    for (const [probe, withSigs, message] of bad) {
      expect(() => native.captureSync(mapping, plane, surface, 16, false, probe as never, undefined, withSigs)).toThrow(message);
      try {
        native.captureSync(mapping, plane, surface, 16, false, probe as never, undefined, withSigs);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('EINVAL');
      }
    }
    mapping.close();
  });
});
