// vfio-presence: noticing that a held VFIO device is going away, from sysfs and the VMM's fd table,
// on a fake /sys and /proc laid out like the kernel test guest's (6.1, mdev).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { currentGroupOf, watchDevice } from '../../src/source/vfio-presence.js';

const A = '3bb0a8b8-55f1-4448-85cb-dc14405dcc6b';
const B = '59a509b9-8f70-4b83-8486-3fce223cb123';
let root: string, sys: string, proc: string;

/** An mdev bound to its driver, in IOMMU group `group`, listed on the mdev bus. */
function mdev(uuid: string, group: number): string {
  const dir = join(sys, 'devices/virtual/mbochs_rw/mbochs_rw', uuid);
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(sys, 'bus/mdev/drivers/mbochs_rw'), join(dir, 'driver'));
  mkdirSync(join(sys, `kernel/iommu_groups/${group}/devices`), { recursive: true });
  symlinkSync(dir, join(sys, `kernel/iommu_groups/${group}/devices`, uuid));
  mkdirSync(join(sys, 'bus/mdev/devices', uuid), { recursive: true });
  symlinkSync(join(sys, `kernel/iommu_groups/${group}`), join(sys, 'bus/mdev/devices', uuid, 'iommu_group'));
  return dir;
}

/** Process `pid` with fds pointing at `targets` (fd 3, 4, ...). */
function processHolding(pid: number, targets: string[]): void {
  mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
  targets.forEach((t, i) => symlinkSync(t, join(proc, String(pid), 'fd', String(i + 3))));
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vfio-presence-'));
  sys = join(root, 'sys');
  proc = join(root, 'proc');
  mkdirSync(join(sys, 'bus/mdev/drivers/mbochs_rw'), { recursive: true });
  mkdirSync(join(sys, 'bus/pci/devices'), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

test('a group device is lost when its driver link goes (removal pending: directory and group still there)', () => {
  const dir = mdev(A, 0);
  const { watch, note } = watchDevice({ kind: 'path', path: '/dev/vfio/0' }, { sysRoot: sys, procRoot: proc });
  expect(note).toBeUndefined();
  expect(watch!.lost()).toBeUndefined();
  unlinkSync(join(dir, 'driver'));
  expect(watch!.lost()).toBe(`the device was removed (${A})`);
});

test('--device-name picks that device of the group', () => {
  mdev(A, 0);
  const dirB = mdev(B, 0);
  const { watch } = watchDevice({ kind: 'path', path: '/dev/vfio/0', deviceName: B }, { sysRoot: sys, procRoot: proc });
  expect(watch!.what).toContain(B);
  unlinkSync(join(dirB, 'driver'));
  expect(watch!.lost()).toBe(`the device was removed (${B})`);
});

test('a group that is not in sysfs cannot be watched, and says so', () => {
  const { watch, note } = watchDevice({ kind: 'path', path: '/dev/vfio/7' }, { sysRoot: sys, procRoot: proc });
  expect(watch).toBeUndefined();
  expect(note).toMatch(/cannot find \/dev\/vfio\/7/);
});

test('--vmm-pid: the one device behind the VMM\'s group; removed, released by the VMM, or the VMM gone', () => {
  const dir = mdev(A, 0);
  processHolding(100, ['/dev/vfio/vfio', '/dev/vfio/0', 'anon_inode:[vfio-device]']);
  const opts = { sysRoot: sys, procRoot: proc };
  const { watch, note } = watchDevice({ kind: 'pid', pid: 100 }, opts);
  expect(note).toBeUndefined();
  expect(watch!.lost()).toBeUndefined();
  unlinkSync(join(dir, 'driver'));
  expect(watch!.lost()).toBe(`the device was removed (${A})`);
  symlinkSync(join(sys, 'bus/mdev/drivers/mbochs_rw'), join(dir, 'driver'));
  unlinkSync(join(proc, '100/fd/4')); // the VMM closed the group (hot-unplug)
  expect(watch!.lost()).toBe(`the VMM (process 100) released the device (${A})`);
  rmSync(join(proc, '100'), { recursive: true });
  expect(watch!.lost()).toBe('the VMM (process 100) exited');
});

test('--vmm-pid with several devices: only the VMM\'s exit is watched, and the log says why', () => {
  mdev(A, 0);
  mdev(B, 1);
  processHolding(100, ['/dev/vfio/0', '/dev/vfio/1']);
  const { watch, note } = watchDevice({ kind: 'pid', pid: 100 }, { sysRoot: sys, procRoot: proc });
  expect(note).toContain('holds 2 VFIO devices');
  expect(watch!.lost()).toBeUndefined();
  unlinkSync(join(sys, 'devices/virtual/mbochs_rw/mbochs_rw', A, 'driver'));
  expect(watch!.lost()).toBeUndefined();
  rmSync(join(proc, '100'), { recursive: true });
  expect(watch!.lost()).toBe('the VMM (process 100) exited');
});

test('a handed-over fd names no device: not watched, said once', () => {
  for (const spec of [{ kind: 'fd', fd: 3 }, { kind: 'socket', path: '/run/x.sock' }] as const) {
    const { watch, note } = watchDevice(spec, { sysRoot: sys, procRoot: proc });
    expect(watch).toBeUndefined();
    expect(note).toMatch(/names no device/);
  }
});

test('currentGroupOf follows a device name to its group now', () => {
  mdev(A, 4);
  expect(currentGroupOf(A, { sysRoot: sys })).toBe('/dev/vfio/4');
  expect(currentGroupOf(B, { sysRoot: sys })).toBeUndefined();
});
