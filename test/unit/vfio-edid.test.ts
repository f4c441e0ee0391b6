// EDID blob (decoded here from the VESA EDID 1.3 layout, independently of the builder) and
// the GFX/EDID region write protocol against a stand-in device that records every access.
import { describe, expect, it } from 'vitest';
import type { NativeMapping, NativeVfioDevice, VfioRegionInfo } from '../../src/native.js';
import { buildEdid, edidResolutionProblem, writeEdid } from '../../src/source/vfio-edid.js';
import { formatProbeReport, probeDevice } from '../../src/source/vfio-probe.js';

function decode(e: Buffer) {
  const d = 54;
  const hActive = e[d + 2] | ((e[d + 4] >> 4) << 8);
  const hBlank = e[d + 3] | ((e[d + 4] & 0xf) << 8);
  const vActive = e[d + 5] | ((e[d + 7] >> 4) << 8);
  const vBlank = e[d + 6] | ((e[d + 7] & 0xf) << 8);
  const clockHz = e.readUInt16LE(d) * 10_000;
  const name = e.subarray(72 + 5, 72 + 18).toString('ascii').split('\n')[0];
  return {
    header: [...e.subarray(0, 8)],
    version: `${e[18]}.${e[19]}`,
    sum: [...e].reduce((a, b) => a + b, 0) % 256,
    hActive,
    vActive,
    refresh: clockHz / ((hActive + hBlank) * (vActive + vBlank)),
    preferredIsFirst: (e[24] & 0x02) !== 0,
    nameTag: e[72 + 3],
    name,
    extensions: e[126],
  };
}

describe('buildEdid', () => {
  for (const [w, h] of [[1024, 768], [1920, 1080], [1280, 800], [4095, 2160], [640, 480]] as const) {
    it(`${w}x${h}: valid header, checksum, preferred detailed timing of that size`, () => {
      const e = buildEdid(w, h);
      expect(e.length).toBe(128);
      const d = decode(e);
      expect(d.header).toEqual([0, 255, 255, 255, 255, 255, 255, 0]);
      expect(d.version).toBe('1.3');
      expect(d.sum).toBe(0);
      expect([d.hActive, d.vActive]).toEqual([w, h]);
      expect(d.preferredIsFirst).toBe(true);
      expect(d.refresh).toBeGreaterThan(w * h > 8_000_000 ? 20 : 59.5);
      expect(d.refresh).toBeLessThan(60.5);
      expect(d.nameTag).toBe(0xfc);
      expect(d.name).toBe('vgpu-vnc');
      expect(d.extensions).toBe(0);
    });
  }
  it('refuses sizes a detailed timing cannot hold', () => {
    expect(edidResolutionProblem(4096, 768)).toBe('width 4096 is outside 64..4095 (an EDID detailed timing holds 12 bits)');
    expect(edidResolutionProblem(800, 10)).toBe('height 10 is outside 64..4095 (an EDID detailed timing holds 12 bits)');
    expect(() => buildEdid(5000, 100)).toThrow(RangeError);
  });
});

/** An mbochs-like device: region 9 is the EDID region (regs at 0, blob at 0x800), 4-byte register writes only. */
class EdidDevice implements NativeVfioDevice {
  readonly description = 'edid-fake';
  regs = Buffer.alloc(24);
  blob = Buffer.alloc(0x400);
  log: string[] = [];
  constructor(maxX: number, maxY: number) {
    this.regs.writeUInt32LE(0x800, 0);
    this.regs.writeUInt32LE(0x400, 4);
    this.regs.writeUInt32LE(maxX, 12);
    this.regs.writeUInt32LE(maxY, 16);
    this.regs.writeUInt32LE(1, 20);
  }
  info() {
    return { flags: 2, numRegions: 10, numIrqs: 1 };
  }
  regionInfo(index: number): VfioRegionInfo | undefined {
    if (index === 9) return { index, flags: 11, size: 4096, offset: 0x2000, caps: [{ id: 2, version: 1, type: 1, subtype: 1 }] };
    if (index === 0) return { index, flags: 7, size: 16 << 20, offset: 0x3000, caps: [] };
    return index < 10 ? { index, flags: 0, size: 0, offset: 0, caps: [] } : undefined;
  }
  queryPlane(type: 'primary' | 'cursor') {
    if (type === 'cursor') return { ok: true as const, drmFormat: 0, modifier: 0n, width: 0, height: 0, stride: 0, size: 0, xPos: 0, yPos: 0, xHot: 0, yHot: 0, dmabufId: 0 };
    return { ok: true as const, drmFormat: 0x34325258, modifier: 0n, width: 1024, height: 768, stride: 4096, size: 4096 * 768, xPos: 0, yPos: 0, xHot: 0, yHot: 0, dmabufId: 1 };
  }
  probe() {
    return { dmabuf: true, region: false };
  }
  mapRegion(): NativeMapping {
    throw new Error('unused');
  }
  getDmabuf(): NativeMapping {
    throw new Error('unused');
  }
  readRegion(index: number, offset: number, length: number): Buffer {
    expect(index).toBe(9);
    return Buffer.from(this.regs.subarray(offset, offset + length));
  }
  writeRegion(index: number, offset: number, data: Uint8Array): void {
    expect(index).toBe(9);
    if (offset < 24) {
      expect(data.length).toBe(4); // registers take aligned u32 writes
      const value = Buffer.from(data).readUInt32LE(0);
      this.log.push(offset === 20 ? `link ${value === 1 ? 'up' : 'down'}` : offset === 8 ? `size ${value}` : `reg ${offset}`);
      this.regs.writeUInt32LE(value, offset);
    } else {
      this.log.push(`blob ${data.length} at ${offset}`);
      Buffer.from(data).copy(this.blob, offset - 0x800);
    }
  }
  close(): void {}
}

describe('writeEdid', () => {
  it('link down, blob, size, link up; the blob asks for the requested size', async () => {
    const dev = new EdidDevice(2560, 1600);
    const result = await writeEdid(dev, 1280, 720, { settleMs: 1 });
    expect(result).toEqual({ region: 9, width: 1280, height: 720, clamped: false });
    expect(dev.log).toEqual(['link down', 'blob 128 at 2048', 'size 128', 'link up']);
    const d = decode(dev.blob.subarray(0, 128));
    expect([d.hActive, d.vActive, d.sum]).toEqual([1280, 720, 0]);
  });

  it('clamps to max_xres / max_yres', async () => {
    const dev = new EdidDevice(1920, 1080);
    const result = await writeEdid(dev, 2560, 1440, { settleMs: 1 });
    expect(result).toEqual({ region: 9, width: 1920, height: 1080, clamped: true });
    expect([decode(dev.blob.subarray(0, 128)).hActive, decode(dev.blob.subarray(0, 128)).vActive]).toEqual([1920, 1080]);
  });

  it('a device without an EDID region: ENODEV with a clear message', async () => {
    const dev = new EdidDevice(1, 1);
    dev.regionInfo = (index: number) => (index < 10 ? { index, flags: 0, size: 0, offset: 0, caps: [] } : undefined);
    await expect(writeEdid(dev, 800, 600)).rejects.toMatchObject({ code: 'ENODEV', message: 'edid-fake has no EDID region (VFIO_REGION_TYPE_GFX / SUBTYPE_GFX_EDID): --resolution cannot be set' });
  });
});

describe('probe report', () => {
  it('retries a transient ENOMEM and spots a cursor query that returns the primary plane', () => {
    const dev = new EdidDevice(1920, 1200);
    let calls = 0;
    const primary = dev.queryPlane('primary');
    dev.queryPlane = () => (calls++ === 0 ? { ok: false as const, code: 'ENOMEM', message: 'busy' } : primary);
    const report = probeDevice(dev);
    expect(report.primary).toEqual(primary);
    expect(report.cursorIsPrimary).toBe(true);
    expect(formatProbeReport(report)).toContain('  cursor: none (the cursor query returns the primary plane: the driver ignores the plane type)');
  });

  it('lists regions with capability types, plane support, planes and EDID registers', () => {
    const report = probeDevice(new EdidDevice(1920, 1200));
    const text = formatProbeReport(report);
    expect(text).toContain('device: edid-fake');
    expect(text).toContain('   9: size 4096 (0x1000) offset 0x2000 flags read,write,caps  type 1/1 (GFX EDID)');
    expect(text).toContain('   0: size 16777216 (0x1000000) offset 0x3000 flags read,write,mmap');
    expect(text).toContain('display planes: dma-buf');
    expect(text).toContain('  primary: 1024x768, XRGB8888, stride 4096, size 3145728, modifier 0x0000000000000000, dma-buf id 1');
    expect(text).toContain('  cursor: disabled (nothing scanned out)');
    expect(text).toContain('EDID region 9: max 1920x1200, blob 0/1024 bytes at 0x800, link up');
    expect(text).toContain('  (empty: 1, 2, 3, 4, 5, 6, 7, 8)');
    expect(text).not.toMatch(/^ +1: size/m);
  });
});
