// VfioSource against a scripted stand-in for the device (the real ioctls run in the kernel test
// guest): plane polling, region remapping rules, the dma-buf cache keyed by id and geometry,
// transient errors, disabled planes, validation of every field, and logging each problem once.
// Mappings are real native mappings of files, and pixels are read back through capture.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  native,
  type NativeMapping,
  type NativeVfioDevice,
  type VfioPlaneError,
  type VfioPlaneInfo,
  type VfioRegionInfo,
} from '../../src/native.js';
import { validateVfioPlane, VfioSource } from '../../src/source/vfio.js';

const XRGB8888 = 0x34325258;
const dir = mkdtempSync(join(tmpdir(), 'vgpu-vfio-src-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function fileMapping(bytes: Uint8Array): NativeMapping {
  const path = join(dir, `m${files++}.bin`);
  writeFileSync(path, bytes);
  return new native.Mapping(path);
}

/** A picture whose pixel (x, y) is a function of the seed, as XRGB8888 bytes. */
function picture(width: number, height: number, stride: number, seed: number, size = stride * height): Buffer {
  const b = Buffer.alloc(size);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) b.writeUInt32LE(((x * 7 + y * 13 + seed * 101) & 0xffffff) >>> 0, y * stride + x * 4);
  return b;
}

function expectedSurface(width: number, height: number, seed: number): Buffer {
  return picture(width, height, width * 4, seed);
}

type Answer = VfioPlaneInfo | VfioPlaneError;

function plane(over: Partial<VfioPlaneInfo>): VfioPlaneInfo {
  return { ok: true, drmFormat: XRGB8888, modifier: 0n, width: 64, height: 32, stride: 256, size: 256 * 32, xPos: 0, yPos: 0, xHot: 0, yHot: 0, ...over };
}

class FakeDevice implements NativeVfioDevice {
  readonly description = 'fake';
  answers: Answer[] = [];
  support = { dmabuf: false, region: true };
  regions = new Map<number, { size: number; bytes: Buffer }>();
  dmabufs = new Map<number, Buffer | Error>();
  mapCalls: { index: number; size?: number }[] = [];
  dmabufCalls: number[] = [];
  closed = false;
  handed: NativeMapping[] = [];

  info() {
    return { flags: 2, numRegions: 9, numIrqs: 0 };
  }
  regionInfo(index: number): VfioRegionInfo | undefined {
    const r = this.regions.get(index);
    return r && { index, flags: 7, size: r.size, offset: 0x1000, caps: [] };
  }
  queryPlane(): Answer {
    const a = this.answers.length > 1 ? this.answers.shift()! : this.answers[0];
    return a;
  }
  probe() {
    return this.support;
  }
  mapRegion(index: number, size?: number): NativeMapping {
    this.mapCalls.push({ index, size });
    const r = this.regions.get(index)!;
    const m = fileMapping(r.bytes.subarray(0, size ?? r.size));
    this.handed.push(m);
    return m;
  }
  getDmabuf(id: number): NativeMapping {
    this.dmabufCalls.push(id);
    const d = this.dmabufs.get(id);
    if (d instanceof Error) throw d;
    if (!d) throw Object.assign(new Error(`VFIO_DEVICE_GET_GFX_DMABUF(${id}): No such file or directory`), { code: 'ENOENT' });
    const m = fileMapping(d);
    this.handed.push(m);
    return m;
  }
  readRegion(): Buffer {
    throw new Error('unused');
  }
  writeRegion(): void {
    throw new Error('unused');
  }
  close(): void {
    this.closed = true;
  }
}

function isClosed(m: NativeMapping): boolean {
  try {
    m.readU32(0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBADF';
  }
}

async function pixels(source: VfioSource, width: number, height: number): Promise<Buffer> {
  const frame = await source.nextFrame();
  if (frame.kind !== 'plane') throw new Error(`no plane: ${frame.reason}`);
  const surface = Buffer.alloc(width * height * 4);
  await native.capture(frame.mapping, frame.plane, surface, 16, true);
  return surface;
}

describe('region planes (mdpy-like)', () => {
  it('maps the region once, shows live pixels, remaps only when index or size changes', async () => {
    const dev = new FakeDevice();
    const bytes = picture(64, 32, 256, 1, 16384);
    dev.regions.set(16, { size: 16384, bytes });
    dev.regions.set(5, { size: 16384, bytes: picture(64, 32, 256, 2, 16384) });
    dev.answers = [plane({ regionIndex: 16, size: 8192 })];
    const logs: string[] = [];
    const src = new VfioSource(dev, { log: (m) => logs.push(m) });
    expect((await pixels(src, 64, 32)).equals(expectedSurface(64, 32, 1))).toBe(true);
    await pixels(src, 64, 32);
    expect(dev.mapCalls).toEqual([{ index: 16, size: 8192 }]);
    expect(src.planeKind).toBe('region');
    // New size: remapped.
    dev.answers = [plane({ regionIndex: 16, size: 16384 })];
    await pixels(src, 64, 32);
    expect(dev.mapCalls).toEqual([{ index: 16, size: 8192 }, { index: 16, size: 16384 }]);
    expect(isClosed(dev.handed[0])).toBe(true);
    // New index: remapped, and those are the pixels shown.
    dev.answers = [plane({ regionIndex: 5, size: 16384 })];
    expect((await pixels(src, 64, 32)).equals(expectedSurface(64, 32, 2))).toBe(true);
    expect(dev.mapCalls.length).toBe(3);
    expect(logs.filter((l) => l.includes('64x32 XRGB8888')).length).toBe(3); // each new plane logged once
    await src.close();
    expect(dev.closed).toBe(true);
    expect(dev.handed.every(isClosed)).toBe(true);
  });

  it('a plane naming a region the device lacks, or larger than it, is no signal with the reason', async () => {
    const dev = new FakeDevice();
    dev.regions.set(16, { size: 4096, bytes: Buffer.alloc(4096) });
    dev.answers = [plane({ regionIndex: 3 })];
    const src = new VfioSource(dev);
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: 'the plane names region 3, which the device does not have' });
    dev.answers = [plane({ regionIndex: 16, size: 8192 })];
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: "the plane size 8192 exceeds region 16's size 4096" });
    expect(dev.mapCalls).toEqual([]);
  });
});

describe('dma-buf planes (mbochs-like)', () => {
  it('caches mappings by id and geometry; a reused id with a new geometry is a new buffer', async () => {
    const dev = new FakeDevice();
    dev.support = { dmabuf: true, region: false };
    dev.dmabufs.set(1, picture(64, 32, 256, 3));
    dev.dmabufs.set(2, picture(64, 32, 256, 4));
    const src = new VfioSource(dev);
    dev.answers = [plane({ dmabufId: 1 })];
    expect((await pixels(src, 64, 32)).equals(expectedSurface(64, 32, 3))).toBe(true);
    dev.answers = [plane({ dmabufId: 2 })];
    expect((await pixels(src, 64, 32)).equals(expectedSurface(64, 32, 4))).toBe(true);
    dev.answers = [plane({ dmabufId: 1 })]; // page flip back: cached
    await pixels(src, 64, 32);
    expect(dev.dmabufCalls).toEqual([1, 2]);
    // id 1 again but 32x32 now: a new GET_GFX_DMABUF, the stale mapping closed.
    dev.dmabufs.set(1, picture(32, 32, 128, 5));
    dev.answers = [plane({ dmabufId: 1, width: 32, stride: 128, size: 4096 })];
    expect((await pixels(src, 32, 32)).equals(expectedSurface(32, 32, 5))).toBe(true);
    expect(dev.dmabufCalls).toEqual([1, 2, 1]);
    expect(isClosed(dev.handed[0])).toBe(true);
    expect(isClosed(dev.handed[1])).toBe(false);
    await src.close();
  });

  it('keeps at most dmabufCacheSize mappings, closing the least recently used', async () => {
    const dev = new FakeDevice();
    dev.support = { dmabuf: true, region: true }; // DMABUF wins the probe
    for (let id = 1; id <= 4; id++) dev.dmabufs.set(id, picture(64, 32, 256, id));
    const src = new VfioSource(dev, { dmabufCacheSize: 2 });
    for (const id of [1, 2, 1, 3]) {
      dev.answers = [plane({ dmabufId: id })];
      await src.nextFrame();
    }
    // 2 was least recently used when 3 arrived.
    expect(dev.dmabufCalls).toEqual([1, 2, 3]);
    expect(dev.handed.map(isClosed)).toEqual([false, true, false]);
    await src.close();
    expect(dev.handed.every(isClosed)).toBe(true);
  });

  it('a dma-buf that refuses mmap: no signal with the native reason, not retried for the same buffer', async () => {
    const dev = new FakeDevice();
    dev.support = { dmabuf: true, region: false };
    const reason = 'dma-buf 1: the exporter does not allow CPU mmap (EINVAL) (stock mbochs exports read-only)';
    dev.dmabufs.set(1, Object.assign(new Error(reason), { code: 'EINVAL' }));
    dev.answers = [plane({ dmabufId: 1 })];
    const logs: string[] = [];
    const src = new VfioSource(dev, { log: (m) => logs.push(m) });
    for (let i = 0; i < 3; i++) expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason });
    expect(dev.dmabufCalls).toEqual([1]);
    expect(logs.filter((l) => l.includes('does not allow CPU mmap'))).toHaveLength(1);
  });
});

describe('transient and disabled planes', () => {
  it('ENOMEM keeps the last frame; a disabled plane is "guest is not scanning out"; each logged once', async () => {
    const dev = new FakeDevice();
    dev.support = { dmabuf: true, region: false };
    dev.dmabufs.set(1, picture(64, 32, 256, 6));
    const logs: string[] = [];
    const src = new VfioSource(dev, { log: (m) => logs.push(m) });
    // Before any frame, ENOMEM is no signal (nothing to keep).
    dev.answers = [{ ok: false, code: 'ENOMEM', message: 'VFIO_DEVICE_QUERY_GFX_PLANE: Cannot allocate memory' }];
    expect((await src.nextFrame()).kind).toBe('no-signal');
    dev.answers = [plane({ dmabufId: 1 })];
    await pixels(src, 64, 32);
    dev.answers = [{ ok: false, code: 'ENOMEM', message: 'VFIO_DEVICE_QUERY_GFX_PLANE: Cannot allocate memory' }];
    for (let i = 0; i < 3; i++) expect((await pixels(src, 64, 32)).equals(expectedSurface(64, 32, 6))).toBe(true);
    expect(logs.filter((l) => l.includes('busy (ENOMEM)') && l.includes('showing the last good frame'))).toHaveLength(1);
    dev.answers = [plane({ dmabufId: 0, drmFormat: 0, width: 0, height: 0, stride: 0, size: 0 })];
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: 'guest is not scanning out' });
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: 'guest is not scanning out' });
    expect(logs.filter((l) => l.includes('guest is not scanning out'))).toHaveLength(1);
  });

  it('a device without display planes says so', async () => {
    const dev = new FakeDevice();
    dev.support = { dmabuf: false, region: false };
    const src = new VfioSource(dev);
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: 'the device has no display (the plane probe refuses both DMABUF and REGION)' });
  });

  it('other query errors are no signal with the errno', async () => {
    const dev = new FakeDevice();
    dev.answers = [{ ok: false, code: 'ENOTTY', message: 'VFIO_DEVICE_QUERY_GFX_PLANE: Inappropriate ioctl for device' }];
    const src = new VfioSource(dev, { kind: 'region' });
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: "cannot query the guest's plane: VFIO_DEVICE_QUERY_GFX_PLANE: Inappropriate ioctl for device" });
  });
});

describe('validateVfioPlane (every guest field, REFERENCE.md §7)', () => {
  const reason = (over: Partial<VfioPlaneInfo>): string => {
    const r = validateVfioPlane(plane(over));
    return r.ok ? 'ok' : r.reason;
  };
  it('accepts a sane linear plane and computes its extent', () => {
    const r = validateVfioPlane(plane({ width: 10, height: 3, stride: 48, size: 48 * 3 }));
    expect(r).toEqual({ ok: true, extent: 48 * 2 + 40, plane: { fourcc: XRGB8888, width: 10, height: 3, stride: 48, offset: 0 } });
  });
  it('refuses each bad field with a reason naming it', () => {
    expect(reason({ drmFormat: 0x56595559 })).toBe("the guest's pixel format ???? is not supported".replace('????', 'YUYV (0x56595559)'));
    expect(reason({ width: 0 })).toBe('plane width 0 is outside 1..16384');
    expect(reason({ height: 20000 })).toBe('plane height 20000 is outside 1..16384');
    expect(reason({ stride: 255 })).toBe('plane stride 255 is less than width 64 × 4 bytes per pixel');
    expect(reason({ stride: (1 << 20) + 4 })).toBe('plane stride 1048580 is larger than 1048576');
    expect(reason({ size: 256 * 31 })).toBe('plane size 7936 is smaller than its pixels (64x32, stride 256: 8192 bytes)');
    expect(reason({ modifier: 0x0100000000000003n })).toBe("the guest's plane uses I915 Yf tiling (0x0100000000000003) cannot be de-tiled here");
    expect(reason({ modifier: 0x0300000000000010n })).toMatch(/modifier 0x0300000000000010 is not supported/);
  });
  it('tiled planes: stride in whole tiles, size for whole tile rows, modifier passed on', () => {
    expect(reason({ modifier: 0x0100000000000001n, stride: 256 })).toBe('plane stride 256 is not a multiple of the I915 X-tiled tile width 512');
    // Y tiles are 32 rows: 33 rows need 64 rows of stride.
    expect(reason({ modifier: 0x0100000000000002n, height: 33, stride: 256, size: 256 * 33 })).toMatch(/is smaller than its pixels .* 16384 bytes/);
    const ok = validateVfioPlane(plane({ modifier: 0x0100000000000002n, height: 33, stride: 256, size: 256 * 64 }));
    expect(ok.ok && ok.plane.modifier).toBe(0x0100000000000002n);
  });
  it('a plane that does not fit the dma-buf is no signal, not a read past the end', async () => {
    const dev = new FakeDevice();
    dev.support = { dmabuf: true, region: false };
    dev.dmabufs.set(1, Buffer.alloc(4096)); // the plane claims 8192
    dev.answers = [plane({ dmabufId: 1 })];
    const src = new VfioSource(dev);
    expect(await src.nextFrame()).toEqual({ kind: 'no-signal', reason: "the plane's pixels (8192 bytes) extend past the 4096-byte dma-buf" });
  });
});
