// VfioSource given its spec: when the device's sysfs driver link goes (a removal waiting for its
// holders), every mapping and the device are released at once, frames say why, and re-opening is
// tried and logged once per distinct failure. (Coming back needs a real device: the kernel guest's
// device-loss test.)
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { native, type NativeMapping, type NativeVfioDevice, type VfioPlaneInfo } from '../../src/native.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { VfioSource } from '../../src/source/vfio.js';

const root = mkdtempSync(join(tmpdir(), 'vfio-reattach-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const UUID = '3bb0a8b8-55f1-4448-85cb-dc14405dcc6b';
const sys = join(root, 'sys');
const deviceDir = join(sys, 'devices/virtual/mbochs_rw/mbochs_rw', UUID);
mkdirSync(deviceDir, { recursive: true });
mkdirSync(join(sys, 'bus/mdev/drivers/mbochs_rw'), { recursive: true });
mkdirSync(join(sys, 'kernel/iommu_groups/0/devices'), { recursive: true });
symlinkSync(deviceDir, join(sys, 'kernel/iommu_groups/0/devices', UUID));
symlinkSync(join(sys, 'bus/mdev/drivers/mbochs_rw'), join(deviceDir, 'driver'));

const regionFile = join(root, 'region.bin');
writeFileSync(regionFile, Buffer.alloc(64 * 32 * 4, 0x40));

class OneRegionDevice implements NativeVfioDevice {
  readonly description = `/dev/vfio/0 device ${UUID}`;
  closed = false;
  mappings: NativeMapping[] = [];
  info() {
    return { flags: 2, numRegions: 17, numIrqs: 0 };
  }
  regionInfo(index: number) {
    return { index, flags: 7, size: 64 * 32 * 4, offset: 0, caps: [] };
  }
  queryPlane(): VfioPlaneInfo {
    return { ok: true, drmFormat: Fourcc.XRGB8888, modifier: 0n, width: 64, height: 32, stride: 256, size: 256 * 32, xPos: 0, yPos: 0, xHot: 0, yHot: 0, regionIndex: 16 };
  }
  probe() {
    return { dmabuf: false, region: true };
  }
  mapRegion(): NativeMapping {
    const m = new native.Mapping(regionFile);
    this.mappings.push(m);
    return m;
  }
  getDmabuf(): NativeMapping {
    throw new Error('unused');
  }
  readRegion(): Buffer {
    throw new Error('unused');
  }
  writeRegion(): void {}
  close() {
    this.closed = true;
  }
}

const isClosed = (m: NativeMapping) => {
  try {
    m.readU32(0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EBADF';
  }
};

test('device removed: mappings and device released at once (no viewer needed), no-signal with the reason, re-open tried', async () => {
  const device = new OneRegionDevice();
  const logs: string[] = [];
  const source = new VfioSource(device, {
    log: (m) => logs.push(m),
    spec: { kind: 'path', path: '/dev/vfio/0', deviceName: UUID },
    reattach: { sysRoot: sys, procRoot: join(root, 'proc'), checkMs: 20, retryMs: 20 },
  });
  try {
    const first = await source.nextFrame();
    expect(first.kind).toBe('plane');
    expect(device.mappings).toHaveLength(1);

    unlinkSync(join(deviceDir, 'driver'));
    // The source's own timer notices: nobody calls nextFrame meanwhile.
    const end = Date.now() + 5000;
    while (!device.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(device.closed).toBe(true);
    expect(isClosed(device.mappings[0]!)).toBe(true);
    expect(logs.some((l) => l.startsWith(`vfio: the device was removed (${UUID}): releasing`))).toBe(true);

    const frame = await source.nextFrame();
    expect(frame).toEqual({ kind: 'no-signal', reason: `the device was removed (${UUID})` });
    expect(source.readCursor()).toBeUndefined();
    const q = source.device.queryPlane('primary', 'region');
    expect(q.ok === false && q.code).toBe('ENODEV');
    expect(() => source.device.info()).toThrow(/the device was removed/);

    // Re-opening /dev/vfio/0 fails on this host; the failure is logged once, and retried.
    await new Promise((r) => setTimeout(r, 200));
    const tries = logs.filter((l) => l.startsWith('vfio: no device yet'));
    expect(tries).toHaveLength(1);
    expect((await source.nextFrame()).kind).toBe('no-signal');
  } finally {
    await source.close();
  }
});
