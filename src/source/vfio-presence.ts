// Is the VFIO device we hold still there? Removing a device (`echo 1 > …/remove` for an mdev,
// unbinding vfio-pci) makes the kernel wait until every holder has closed it (6.1:
// vfio_unregister_group_dev), and drivers without a "request" callback (the mdev samples, many
// vGPU drivers: VFIO_DEVICE_GET_IRQ_INFO count 0, SET_IRQS EINVAL) never tell the holders; the
// device keeps answering queries meanwhile. What changes at once is sysfs: the device's `driver`
// link goes before the wait (the group, /dev/vfio/N and the device directory stay until the last
// holder lets go). So a holder that wants to let go promptly looks at that link.
// A VMM we attached to with --vmm-pid can also exit or release the device itself.
import { existsSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { groupDeviceNames, type VfioDeviceSpec } from './vfio-open.js';

export interface DeviceWatch {
  /** what is watched, for the log: e.g. 'mdev 3bb0… (group 0), held by pid 157' */
  readonly what: string;
  /** undefined while the device is there; otherwise why it is not, in words for the viewer */
  lost(): string | undefined;
}

export interface PresenceOptions {
  /** for tests: where /proc and /sys live */
  procRoot?: string;
  sysRoot?: string;
}

const GROUP_PATH = /^\/dev\/vfio\/(\d+)$/;
const CDEV_PATH = /^\/dev\/vfio\/devices\/([^/]+)$/;

interface Located {
  /** the device's sysfs directory (resolved), e.g. /sys/devices/virtual/mbochs_rw/mbochs_rw/<uuid> */
  dir: string;
  /** mdev UUID, PCI address or vfioX */
  name: string;
  /** the /dev path a holder keeps open for it: /dev/vfio/N or /dev/vfio/devices/vfioX */
  devPath: string;
}

function resolved(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The devices behind a group or cdev path (a group may hold several). */
function locate(devPath: string, deviceName: string | undefined, sysRoot: string): Located[] {
  const group = GROUP_PATH.exec(devPath);
  if (group) {
    let names: string[];
    try {
      names = deviceName !== undefined ? [deviceName] : groupDeviceNames(Number(group[1]), sysRoot);
    } catch {
      return [];
    }
    return names.flatMap((name) => {
      const dir = resolved(`${sysRoot}/kernel/iommu_groups/${group[1]}/devices/${name}`);
      return dir ? [{ dir, name, devPath }] : [];
    });
  }
  const cdev = CDEV_PATH.exec(devPath);
  if (cdev) {
    const dir = resolved(`${sysRoot}/class/vfio-dev/${cdev[1]}/device`);
    return dir ? [{ dir, name: basename(dir), devPath }] : [];
  }
  return [];
}

/** The VFIO group and cdev paths process `pid` holds open. */
function heldVfioPaths(pid: number, procRoot: string): string[] | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`${procRoot}/${pid}/fd`);
  } catch {
    return undefined; // gone (or not ours to look at)
  }
  const paths = new Set<string>();
  for (const fd of fds) {
    try {
      const link = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      if (GROUP_PATH.test(link) || CDEV_PATH.test(link)) paths.add(link);
    } catch {
      // closed meanwhile
    }
  }
  return [...paths];
}

function bound(dir: string): boolean {
  return existsSync(`${dir}/driver`);
}

/** The device in a group of a given name is there: its sysfs `driver` link exists. */
function deviceWatch(device: Located): DeviceWatch {
  return {
    what: `${device.name} (${device.devPath})`,
    lost: () => (bound(device.dir) ? undefined : `the device was removed (${device.name})`),
  };
}

function vmmWatch(pid: number, procRoot: string, device: Located | undefined): DeviceWatch {
  return {
    what: device ? `${device.name} (${device.devPath}) held by process ${pid}` : `process ${pid}`,
    lost: () => {
      const held = heldVfioPaths(pid, procRoot);
      if (held === undefined) return `the VMM (process ${pid}) exited`;
      if (!device) return undefined;
      if (!bound(device.dir)) return `the device was removed (${device.name})`;
      if (!held.includes(device.devPath)) return `the VMM (process ${pid}) released the device (${device.name})`;
      return undefined;
    },
  };
}

/**
 * How to notice that the device a spec opened goes away. `note` says what cannot be watched
 * (logged once). For --vmm-pid the device is the only one behind the VMM's VFIO groups/cdevs;
 * a VMM holding several is watched for exiting only (which of them our fd is cannot be told).
 * An inherited fd or one received from a socket names no device: not watched.
 */
export function watchDevice(spec: VfioDeviceSpec, opts: PresenceOptions = {}): { watch?: DeviceWatch; note?: string } {
  const sysRoot = opts.sysRoot ?? '/sys';
  const procRoot = opts.procRoot ?? '/proc';
  switch (spec.kind) {
    case 'path': {
      const found = locate(spec.path, spec.deviceName, sysRoot);
      if (found.length === 0) return { note: `cannot find ${spec.path} in ${sysRoot}: its removal will not be noticed` };
      return { watch: deviceWatch(found[0]) };
    }
    case 'pid': {
      const held = heldVfioPaths(spec.pid, procRoot) ?? [];
      const found = held.flatMap((p) => locate(p, undefined, sysRoot));
      if (found.length === 1) return { watch: vmmWatch(spec.pid, procRoot, found[0]) };
      const note =
        found.length === 0
          ? `process ${spec.pid} holds no VFIO group or cdev open, so the device cannot be found in sysfs: only the VMM's exit will be noticed`
          : `process ${spec.pid} holds ${found.length} VFIO devices (${found.map((f) => f.name).join(', ')}): which one is shown cannot be told, so only the VMM's exit will be noticed`;
      return { watch: vmmWatch(spec.pid, procRoot, undefined), note };
    }
    case 'fd':
    case 'socket':
      return { note: 'an fd handed over names no device in sysfs: its removal will not be noticed (vgpu-vnc keeps the device open until it exits)' };
  }
}

/**
 * The group a device is in now, by name (mdev UUID or PCI address): a re-created mdev keeps its
 * UUID but may get another group number (groups are numbered lowest-free at creation).
 */
export function currentGroupOf(name: string, opts: PresenceOptions = {}): string | undefined {
  const sysRoot = opts.sysRoot ?? '/sys';
  let buses: string[];
  try {
    buses = readdirSync(`${sysRoot}/bus`);
  } catch {
    return undefined;
  }
  for (const bus of buses) {
    try {
      const group = basename(readlinkSync(`${sysRoot}/bus/${bus}/devices/${name}/iommu_group`));
      if (/^\d+$/.test(group)) return `/dev/vfio/${group}`;
    } catch {
      // not on this bus
    }
  }
  return undefined;
}
