// Getting a VFIO device for the vfio source, every way a user can name one:
// a group (/dev/vfio/N), a cdev (/dev/vfio/devices/vfioX), an inherited fd, a unix socket
// that hands the fd over (SCM_RIGHTS), or the running VMM's pid (pidfd_getfd).
// Every failure is a VfioOpenError: `code` an errno name, `message` one line for the user.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { native, type NativeVfioDevice } from '../native.js';
import type { Logger } from './types.js';

export type VfioDeviceSpec =
  /** /dev/vfio/N (group; deviceName defaults to the one in /sys/kernel/iommu_groups/N/devices) or /dev/vfio/devices/vfioX */
  | { kind: 'path'; path: string; deviceName?: string }
  /** an fd this process already holds (inherited from a parent); adopted: closed with the device */
  | { kind: 'fd'; fd: number }
  /** connect to a unix stream socket; the holder sends one message with one fd (SCM_RIGHTS) */
  | { kind: 'socket'; path: string; timeoutMs?: number }
  /** take the device fd from a running VMM with pidfd_getfd; `fd` picks one when it holds several */
  | { kind: 'pid'; pid: number; fd?: number };

export class VfioOpenError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'VfioOpenError';
  }
}

export interface VfioOpenOptions {
  log?: Logger;
  /** for tests: where /proc and /sys live */
  procRoot?: string;
  sysRoot?: string;
}

const GROUP_PATH = /^\/dev\/vfio\/(\d+)$/;
const CDEV_PATH = /^\/dev\/vfio\/devices\/[^/]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'EIO';
}

function wrap(err: unknown): VfioOpenError {
  if (err instanceof VfioOpenError) return err;
  return new VfioOpenError(codeOf(err), (err as Error)?.message ?? String(err));
}

/** Devices in IOMMU group N, mdev UUIDs first (what GROUP_GET_DEVICE_FD wants). */
export function groupDeviceNames(group: number, sysRoot = '/sys'): string[] {
  const dir = `${sysRoot}/kernel/iommu_groups/${group}/devices`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new VfioOpenError(codeOf(err), `IOMMU group ${group} has no device list (${dir}: ${codeOf(err)})`);
  }
  return names.sort((a, b) => Number(UUID.test(b)) - Number(UUID.test(a)) || a.localeCompare(b));
}

export interface FdHolder {
  pid: number;
  /** process name from /proc/PID/comm */
  name: string;
  fd: number;
}

function processName(pid: number, procRoot: string): string {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Processes with an fd open on `target` (e.g. /dev/vfio/0): scans /proc/PID/fd/* links. Unreadable entries are skipped. */
export function findHolders(target: string, procRoot = '/proc'): FdHolder[] {
  const holders: FdHolder[] = [];
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((p) => /^\d+$/.test(p));
  } catch {
    return holders;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`${procRoot}/${p}/fd/${fd}`) === target) {
          holders.push({ pid, name: processName(pid, procRoot), fd: Number(fd) });
          break;
        }
      } catch {
        // the fd closed while we looked
      }
    }
  }
  return holders;
}

/** What a /proc/PID/fd link looks like when it is a VFIO device fd (group-opened or cdev). */
export function isVfioDeviceLink(link: string): boolean {
  return link === 'anon_inode:[vfio-device]' || CDEV_PATH.test(link);
}

/** fd numbers of `pid` that look like VFIO devices, in fd order. */
export function findVfioDeviceFds(pid: number, procRoot = '/proc'): number[] {
  const dir = `${procRoot}/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch (err) {
    const code = codeOf(err);
    if (code === 'ENOENT') throw new VfioOpenError('ESRCH', `no process ${pid}`);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new VfioOpenError(code, `cannot list the fds of process ${pid} (${dir}): run as root or as the VMM's user`);
    }
    throw new VfioOpenError(code, `cannot list ${dir}: ${code}`);
  }
  const found: number[] = [];
  for (const fd of fds) {
    try {
      if (isVfioDeviceLink(readlinkSync(`${dir}/${fd}`))) found.push(Number(fd));
    } catch {
      // closed meanwhile
    }
  }
  return found.sort((a, b) => a - b);
}

function describeHolders(holders: FdHolder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.name})`).join(', ');
}

function busyError(path: string, holders: FdHolder[], what: string): VfioOpenError {
  const pid = holders[0]?.pid;
  const who = holders.length > 0 ? `held by ${describeHolders(holders)}` : 'held by another process (not visible in /proc)';
  const attach = pid !== undefined ? `--vmm-pid ${pid}` : '--vmm-pid PID';
  return new VfioOpenError(
    'EBUSY',
    `${what} ${path} is busy, ${who}: a VFIO ${what} can be opened by one process only; attach to the running VMM with ${attach}, or have it hand the device over with --device-socket PATH`,
  );
}

function openByPath(path: string, deviceName: string | undefined, opts: VfioOpenOptions): NativeVfioDevice {
  const group = GROUP_PATH.exec(path);
  if (group) {
    const names = deviceName !== undefined ? [deviceName] : groupDeviceNames(Number(group[1]), opts.sysRoot);
    if (names.length === 0) throw new VfioOpenError('ENODEV', `IOMMU group ${group[1]} has no devices`);
    if (names.length > 1) opts.log?.(`vfio: group ${path} has ${names.length} devices (${names.join(', ')}); using ${names[0]}`);
    try {
      return native.vfioOpenGroup(path, names[0]);
    } catch (err) {
      if (codeOf(err) === 'EBUSY') throw busyError(path, findHolders(path, opts.procRoot), 'group');
      throw wrap(err);
    }
  }
  if (CDEV_PATH.test(path)) {
    try {
      return native.vfioOpenCdev(path);
    } catch (err) {
      // A cdev refuses a second user (EBUSY at open, EINVAL at bind, depending on the kernel).
      const code = codeOf(err);
      if (code === 'EBUSY' || code === 'EINVAL') {
        const holders = findHolders(path, opts.procRoot);
        if (holders.length > 0 || code === 'EBUSY') throw busyError(path, holders, 'device');
      }
      throw wrap(err);
    }
  }
  throw new VfioOpenError('EINVAL', `${path} is not a VFIO group (/dev/vfio/N) or device (/dev/vfio/devices/vfioX)`);
}

/** Takes every VFIO-looking fd of the VMM, keeps the first that is a device with a display (or just a device). */
function openFromPid(pid: number, wanted: number | undefined, opts: VfioOpenOptions): NativeVfioDevice {
  const candidates = wanted !== undefined ? [wanted] : findVfioDeviceFds(pid, opts.procRoot);
  if (candidates.length === 0) {
    throw new VfioOpenError('ENOENT', `process ${pid} (${processName(pid, opts.procRoot ?? '/proc')}) holds no VFIO device fd`);
  }
  const devices: NativeVfioDevice[] = [];
  let lastError: unknown;
  for (const fd of candidates) {
    let taken: number;
    try {
      taken = native.vfioTakeFdFromPid(pid, fd);
    } catch (err) {
      // Permission and "no such process" are the same for every fd: stop at once.
      if (['EPERM', 'ESRCH', 'ENOSYS'].includes(codeOf(err))) {
        devices.forEach((d) => d.close());
        throw wrap(err);
      }
      lastError = err;
      continue;
    }
    try {
      devices.push(native.vfioDeviceFromFd(taken, `fd ${fd} of process ${pid}`));
    } catch (err) {
      lastError = err; // vfioDeviceFromFd closed it
    }
  }
  if (devices.length === 0) {
    throw new VfioOpenError(codeOf(lastError), `process ${pid}: no usable VFIO device fd (${(lastError as Error)?.message ?? 'none found'})`);
  }
  const withDisplay = devices.find((d) => {
    const p = d.probe();
    return p.dmabuf || p.region;
  });
  const chosen = withDisplay ?? devices[0];
  for (const d of devices) if (d !== chosen) d.close();
  if (devices.length > 1) opts.log?.(`vfio: process ${pid} holds ${devices.length} VFIO devices; using ${chosen.description}`);
  return chosen;
}

/** Opens the device a spec names. Throws VfioOpenError (code + one-line message) on failure. */
export async function openVfioDevice(spec: VfioDeviceSpec, opts: VfioOpenOptions = {}): Promise<NativeVfioDevice> {
  switch (spec.kind) {
    case 'path':
      return openByPath(spec.path, spec.deviceName, opts);
    case 'fd':
      try {
        return native.vfioDeviceFromFd(spec.fd, `inherited fd ${spec.fd}`);
      } catch (err) {
        throw wrap(err);
      }
    case 'socket': {
      let fd: number;
      try {
        fd = await native.vfioReceiveFd(spec.path, spec.timeoutMs ?? 5000);
      } catch (err) {
        throw new VfioOpenError(codeOf(err), `--device-socket: ${(err as Error).message}`);
      }
      try {
        return native.vfioDeviceFromFd(fd, `fd received from ${spec.path}`);
      } catch (err) {
        throw new VfioOpenError(codeOf(err), `--device-socket ${spec.path}: ${(err as Error).message.replace(/^fd \d+ /, 'the received fd ')}`);
      }
    }
    case 'pid':
      return openFromPid(spec.pid, spec.fd, opts);
  }
}
