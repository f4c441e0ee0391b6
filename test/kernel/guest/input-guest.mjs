// Runs inside the kernel test guest for test/kernel/input.ktest.ts. Two jobs:
//
// 1. Input: reads the evdev devices of QEMU's virtio keyboard and tablet and prints every event
//    ("evdev: TYPE CODE VALUE", SYN and MSC left out) — what keys and clicks sent by a VNC client
//    through vgpu-vnc --qmp on the host become inside a guest kernel. Prints "input: READY".
// 2. Resize: a painter holds an mbochs_rw device (the VMM), `vgpu-vnc --vmm-pid` serves it on
//    port 5900 (forwarded to the host), and this script plays the guest's display driver: it
//    watches the device's EDID region, and when a new EDID appears (a client's SetDesktopSize),
//    prints "resize: EDID WxH checksum ok|bad" from its own decoding of the preferred timing and
//    sets that mode. Prints "resize: READY" once serving 1024x768.
// Ends when the host creates /results/done.
import { createMdev, startPainter as startPainterIn } from './painter-lib.mjs';
import { spawn } from 'node:child_process';
import { constants, existsSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';

const dist = '/project/dist/src';
const { native } = await import(`${dist}/native.js`);
const { findEdidRegion, readEdidRegs } = await import(`${dist}/source/vfio-edid.js`);
const painterBin = process.argv[2];

// ---- 1. evdev ----
async function inputDevices() {
  for (let i = 0; i < 100; i++) {
    const found = readdirSync('/sys/class/input')
      .filter((e) => e.startsWith('event'))
      .map((e) => ({ e, name: readFileSync(`/sys/class/input/${e}/device/name`, 'utf8').trim() }))
      .filter((d) => /^QEMU Virtio (Keyboard|Tablet)$/.test(d.name));
    if (found.length === 2) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no virtio keyboard and tablet under /sys/class/input');
}

// Non-blocking reads on a timer: a blocking read would hold a libuv pool thread that exit joins.
const evdevTimers = [];
for (const { e, name } of await inputDevices()) {
  console.log(`input: /dev/input/${e} is ${name}`);
  const fd = openSync(`/dev/input/${e}`, constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(24 * 64);
  evdevTimers.push(
    setInterval(() => {
      for (;;) {
        let got;
        try {
          got = readSync(fd, buf, 0, buf.length, null);
        } catch (err) {
          if (err.code === 'EAGAIN') return;
          throw err;
        }
        // struct input_event on x86-64: timeval (16 bytes), u16 type, u16 code, s32 value; whole records only.
        for (let o = 0; o + 24 <= got; o += 24) {
          const type = buf.readUInt16LE(o + 16), code = buf.readUInt16LE(o + 18), value = buf.readInt32LE(o + 20);
          if (type !== 0 && type !== 4) console.log(`evdev: ${type} ${code} ${value}`);
        }
      }
    }, 20),
  );
}
console.log('input: READY');

// ---- 2. resize through the EDID ----
/** A painter holding a new mdev of `type` (the VMM stand-in), with the device fd it reports. */
async function startPainter(type) {
  const painter = await startPainterIn(painterBin, createMdev(type));
  const fd = Number(/ fd (\d+)/.exec(painter.ready)?.[1]);
  if (!Number.isInteger(fd)) throw new Error(`painter: ${painter.ready}`);
  return { ...painter, fd };
}

/** Real drivers' cursor answers: neither mdpy (answers with its primary) nor mbochs (always "disabled") has a cursor. */
async function cursorOf(painter, name) {
  const { VfioSource } = await import(`${dist}/source/vfio.js`);
  const logs = [];
  const dev = native.vfioDeviceFromFd(native.vfioTakeFdFromPid(painter.pid, painter.fd), name);
  const source = new VfioSource(dev, { log: (m) => logs.push(m) });
  let frame;
  for (let i = 0; i < 20 && frame?.kind !== 'plane'; i++) frame = await source.nextFrame();
  const answers = [source.readCursor(), source.readCursor(), source.readCursor()];
  const why = logs.find((l) => l.includes('cursor')) ?? '';
  console.log(`cursor: ${name} frame ${frame.kind} cursor ${answers.every((a) => a === undefined) ? 'none' : JSON.stringify(answers[0]).slice(0, 80)}${why ? ` (${why.replace(/^.*cursor: /, '')})` : ''}`);
  await source.close();
}

const mdpy = await startPainter('mdpy-xga');
await cursorOf(mdpy, 'mdpy');
mdpy.child.stdin.end('quit\n');

const painter = await startPainter('mbochs_rw-medium');
const paint = painter.send;
const fd = painter.fd;
await paint('mode 1024 768');
await cursorOf(painter, 'mbochs_rw');

const server = spawn(process.execPath, ['/project/bin/vgpu-vnc', '--vmm-pid', String(painter.pid), '--listen', '0.0.0.0:5900', '--insecure', '--max-fps', '30'], {
  stdio: ['ignore', 'inherit', 'pipe'],
});
let stderr = '';
server.stderr.on('data', (d) => {
  stderr += d;
  process.stdout.write(String(d).replace(/^(?=.)/gm, 'resize: server: '));
});
for (const end = Date.now() + 60_000; !/serving .*\(1024x768\)/.test(stderr); ) {
  if (server.exitCode !== null || Date.now() > end) throw new Error(`vgpu-vnc did not start: ${stderr}`);
  await new Promise((r) => setTimeout(r, 50));
}

// Our own view of the device (the guest driver's): the EDID region, read with pread.
const device = native.vfioDeviceFromFd(native.vfioTakeFdFromPid(painter.pid, fd), 'guest driver view');
const region = findEdidRegion(device);
const edidOf = () => {
  const regs = readEdidRegs(device, region);
  return { regs, blob: regs.edidSize >= 128 ? device.readRegion(region, regs.edidOffset, 128) : undefined };
};
let seen = edidOf().blob;
console.log(`resize: READY (EDID region ${region}, max ${edidOf().regs.maxXres}x${edidOf().regs.maxYres})`);

const LINK_UP = 1;
while (!existsSync('/results/done')) {
  await new Promise((r) => setTimeout(r, 100));
  const { regs, blob } = edidOf();
  if (regs.linkState !== LINK_UP || !blob || (seen && blob.equals(seen))) continue;
  seen = blob;
  // EDID 1.3 first detailed timing (bytes 54..71): active pixels, 12 bits each.
  const header = blob.subarray(0, 8).equals(Buffer.from([0, 255, 255, 255, 255, 255, 255, 0]));
  const sum = blob.reduce((a, b) => (a + b) & 0xff, 0);
  const w = blob[56] | ((blob[58] >> 4) << 8);
  const h = blob[59] | ((blob[61] >> 4) << 8);
  console.log(`resize: EDID ${w}x${h} checksum ${header && sum === 0 ? 'ok' : 'bad'}`);
  await paint(`mode ${w} ${h}`); // the guest driver picks the preferred mode
}
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
device.close();
painter.child.stdin.end('quit\n');
process.exit(0);
