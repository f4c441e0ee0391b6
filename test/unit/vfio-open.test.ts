// Getting hold of a device fd, on a host without VFIO: fd passing over a real unix socket
// (SCM_RIGHTS, sent by an independent sender), pidfd_getfd from a real child process, and the
// one-line errors for everything that is not a VFIO device. The real ioctls run in the kernel
// test guest (test/kernel).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { openVfioSource } from '../../src/source/vfio.js';
import { probeVfio } from '../../src/source/vfio-probe.js';
import { findHolders, findVfioDeviceFds, isVfioDeviceLink, openVfioDevice, VfioOpenError } from '../../src/source/vfio-open.js';

const dir = mkdtempSync(join(tmpdir(), 'vgpu-vfio-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(() => {
  children.splice(0).forEach((c) => c.kill('SIGKILL'));
  servers.splice(0).forEach((s) => s.close());
});

function readAll(fd: number): string {
  const buf = Buffer.alloc(256);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, n).toString();
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

async function rejection(p: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  try {
    await p;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected an exception');
}

// Python's socket.send_fds is an independent SCM_RIGHTS sender (the kernel test's painter is the C one).
const python = spawnSync('python3', ['-c', 'import socket; socket.send_fds'], { stdio: 'ignore' }).status === 0;

/** Starts a sender that serves `file`'s fd to one client at `socketPath`, with `message` bytes. */
async function fdSender(socketPath: string, file: string, fdCount = 1): Promise<void> {
  const script = `
import socket, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
fds = [os.open(sys.argv[2], os.O_RDONLY) for _ in range(int(sys.argv[3]))]
socket.send_fds(c, [b'V'], fds)
c.close()
`;
  const child = spawn('python3', ['-c', script, socketPath, file, String(fdCount)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`sender exited ${code}`)));
  });
}

describe('vfioReceiveFd (SCM_RIGHTS)', () => {
  it.skipIf(!python)('receives the fd the holder sends: it reads the holder\'s file', async () => {
    const file = join(dir, 'payload.txt');
    writeFileSync(file, 'hello from the holder');
    const sock = join(dir, 'a.sock');
    await fdSender(sock, file);
    const fd = await native.vfioReceiveFd(sock, 5000);
    expect(readAll(fd)).toBe('hello from the holder');
    // And it is not a VFIO device: adoption fails clearly and closes it.
    const err = thrown(() => native.vfioDeviceFromFd(fd));
    expect(err.code).toBe('ENOTTY');
    expect(err.message).toBe(`fd ${fd} is not a VFIO device (a regular file; VFIO_DEVICE_GET_INFO: Inappropriate ioctl for device)`);
    expect(isOpen(fd)).toBe(false);
  });

  it.skipIf(!python)('keeps the first fd and closes extra ones', async () => {
    const file = join(dir, 'three.txt');
    writeFileSync(file, 'three');
    const sock = join(dir, 'b.sock');
    await fdSender(sock, file, 3);
    const fd = await native.vfioReceiveFd(sock, 5000);
    expect(readAll(fd)).toBe('three');
    closeSync(fd);
  });

  it.skipIf(!python)('openVfioDevice({kind: socket}) says the received fd is not a device', async () => {
    const file = join(dir, 'c.txt');
    writeFileSync(file, 'x');
    const sock = join(dir, 'c.sock');
    await fdSender(sock, file);
    const err = await rejection(openVfioDevice({ kind: 'socket', path: sock }));
    expect(err).toBeInstanceOf(VfioOpenError);
    expect(err.code).toBe('ENOTTY');
    expect(err.message).toMatch(/^--device-socket .*c\.sock: the received fd is not a VFIO device \(a regular file;/);
  });

  it('a peer that closes without an fd is a protocol error', async () => {
    const sock = join(dir, 'd.sock');
    const server = createServer((c) => c.end('no fd here'));
    servers.push(server);
    await new Promise<void>((r) => server.listen(sock, r));
    const err = await rejection(native.vfioReceiveFd(sock, 5000));
    expect(err.code).toBe('EPROTO');
    expect(err.message).toMatch(/sent a message without a file descriptor/);
  });

  it('a peer that sends nothing times out', async () => {
    const sock = join(dir, 'e.sock');
    const server = createServer(() => {});
    servers.push(server);
    await new Promise<void>((r) => server.listen(sock, r));
    const err = await rejection(native.vfioReceiveFd(sock, 100));
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toMatch(/sent nothing within 100 ms/);
  });

  it('no socket: a clear error', async () => {
    const err = await rejection(native.vfioReceiveFd(join(dir, 'missing.sock'), 100));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toMatch(/cannot connect to .*missing\.sock: No such file or directory/);
  });
});

describe('vfioTakeFdFromPid (pidfd_getfd)', () => {
  function holder(file: string): ChildProcess {
    const fd = openSync(file, 'r');
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
    closeSync(fd);
    children.push(child);
    return child;
  }

  it('duplicates another process\'s fd', () => {
    const file = join(dir, 'held.txt');
    writeFileSync(file, 'held by the child');
    const child = holder(file);
    const fd = native.vfioTakeFdFromPid(child.pid!, 3);
    expect(readAll(fd)).toBe('held by the child');
    closeSync(fd);
  });

  it('names a missing fd and a missing process', () => {
    const child = holder(join(dir, 'held.txt'));
    const noFd = thrown(() => native.vfioTakeFdFromPid(child.pid!, 77));
    expect(noFd.code).toBe('EBADF');
    expect(noFd.message).toBe(`process ${child.pid} has no fd 77`);
    const noPid = thrown(() => native.vfioTakeFdFromPid(0x7ffffff0, 3));
    expect(noPid.code).toBe('ESRCH');
    expect(noPid.message).toBe(`no process ${0x7ffffff0}`);
  });

  it('openVfioDevice({kind: pid}) finds no VFIO fd in a process that has none', async () => {
    const child = holder(join(dir, 'held.txt'));
    await new Promise((r) => setTimeout(r, 50)); // let exec finish so /proc shows sleep
    expect(findVfioDeviceFds(child.pid!)).toEqual([]);
    const err = await rejection(openVfioDevice({ kind: 'pid', pid: child.pid! }));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toBe(`process ${child.pid} (sleep) holds no VFIO device fd`);
    // Naming a regular-file fd explicitly: taken, then refused as a device.
    const named = await rejection(openVfioDevice({ kind: 'pid', pid: child.pid!, fd: 3 }));
    expect(named.code).toBe('ENOTTY');
    expect(named.message).toMatch(/^process \d+: no usable VFIO device fd \(fd \d+ is not a VFIO device \(a regular file;/);
  });

  it('a process that does not exist', async () => {
    const err = await rejection(openVfioDevice({ kind: 'pid', pid: 0x7ffffff0 }));
    expect(err.code).toBe('ESRCH');
  });
});

describe('finding holders and device fds in /proc', () => {
  it('findHolders lists the processes holding a path', () => {
    const file = join(dir, 'group-stand-in');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
    closeSync(fd);
    children.push(child);
    const holders = findHolders(file);
    expect(holders.map((h) => h.pid)).toEqual([child.pid]);
    expect(holders[0].fd).toBe(3);
  });

  it('recognises VFIO device links', () => {
    expect(isVfioDeviceLink('anon_inode:[vfio-device]')).toBe(true);
    expect(isVfioDeviceLink('/dev/vfio/devices/vfio0')).toBe(true);
    expect(isVfioDeviceLink('/dev/vfio/0')).toBe(false); // a group, not a device
    expect(isVfioDeviceLink('anon_inode:[eventfd]')).toBe(false);
  });
});

describe('open errors', () => {
  it('an inherited fd that is not a device', async () => {
    const fd = openSync(join(dir, 'held.txt'), 'r');
    const err = await rejection(openVfioDevice({ kind: 'fd', fd }));
    expect(err.code).toBe('ENOTTY');
    expect(err.message).toMatch(new RegExp(`^fd ${fd} is not a VFIO device \\(a regular file;`));
    expect(isOpen(fd)).toBe(false); // adopted: closed on failure
  });

  it('an fd that is not open', async () => {
    const err = await rejection(openVfioDevice({ kind: 'fd', fd: 987 }));
    expect(err.code).toBe('EBADF');
  });

  it('a path that is neither a group nor a cdev', async () => {
    const err = await rejection(openVfioDevice({ kind: 'path', path: '/tmp/fb' }));
    expect(err.code).toBe('EINVAL');
    expect(err.message).toBe('/tmp/fb is not a VFIO group (/dev/vfio/N) or device (/dev/vfio/devices/vfioX)');
  });

  it.skipIf(existsSync('/dev/vfio/vfio'))('a group on a host without VFIO', async () => {
    const sysRoot = join(dir, 'sys');
    const devices = join(sysRoot, 'kernel/iommu_groups/7/devices');
    spawnSync('mkdir', ['-p', join(devices, '0c3b1a52-7f3c-4a8f-9d1e-2f1b5e2a9c10')]);
    const err = await rejection(openVfioDevice({ kind: 'path', path: '/dev/vfio/7' }, { sysRoot }));
    // No /dev/vfio/vfio here (ENOENT); on a VFIO host it would be the group's own error.
    expect(err.code).toBe('ENOENT');
    expect(err.message).toMatch(/^cannot open the VFIO container \/dev\/vfio\/vfio \(is the vfio module loaded\?\): No such file or directory$/);
  });

  it('a group with no device list', async () => {
    const err = await rejection(openVfioDevice({ kind: 'path', path: '/dev/vfio/4242' }, { sysRoot: join(dir, 'nosys') }));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toMatch(/^IOMMU group 4242 has no device list/);
  });

  it('a cdev on a kernel without iommufd', async () => {
    const err = thrown(() => native.vfioOpenCdev('/dev/vfio/devices/vfio0', join(dir, 'no-iommu')));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toMatch(/does not exist: this kernel has no iommufd/);
  });

  it('openVfioSource and probeVfio pass the open error on unchanged', async () => {
    const a = await rejection(openVfioSource({ kind: 'socket', path: join(dir, 'none.sock'), timeoutMs: 100 }));
    expect(a).toBeInstanceOf(VfioOpenError);
    expect(a.code).toBe('ENOENT');
    expect(a.message).toMatch(/^--device-socket: cannot connect to .*none\.sock: No such file or directory$/);
    const b = await rejection(probeVfio({ kind: 'path', path: '/dev/null' }));
    expect(b.code).toBe('EINVAL');
  });

  it('argument errors are type errors, not crashes', () => {
    expect(thrown(() => native.vfioOpenGroup('', 'x')).code).toBe('EINVAL');
    expect(thrown(() => native.vfioDeviceFromFd(-1)).code).toBe('ERANGE');
    expect(thrown(() => native.vfioTakeFdFromPid(0, 3)).code).toBe('ERANGE');
    expect(thrown(() => new (native as unknown as { VfioDevice: new () => unknown }).VfioDevice()).code).toBe('EINVAL');
  });
});
