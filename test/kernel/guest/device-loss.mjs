// Runs inside the kernel test guest: a VFIO device removed while vgpu-vnc shows it, then created
// again. Prints "devloss: ..." lines; figures as "devloss: FIGURE name value".
//   node device-loss.mjs PAINTER
// 1. In process, --device /dev/vfio/N --device-name UUID (the source itself holds the group):
//    removal finishes without anyone else letting go, "the device was removed", and the mdev
//    re-created with the same UUID in another group (a filler mdev takes the old number) is
//    followed there and shows its new picture.
// 2. With VFIO_SERVE=1, `vgpu-vnc --vmm-pid` next to a painter (the VMM) for the host's client:
//    "devloss: READY picture" (1024x768 seed 7); /results/remove -> the mdev is removed while
//    the painter still holds it: the server lets go and shows "no signal" ("devloss: READY
//    nosignal UUID"), the painter drops it and the removal finishes; /results/recreate -> a new
//    mdev, the painter opens it at 1280x720 seed 9 ("devloss: READY back"); /results/done ends.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { pictureXrgb } from './picture.mjs';
import { createMdev, startPainter as startPainterIn } from './painter-lib.mjs';

const dist = '/project/dist/src';
const { native } = await import(`${dist}/native.js`);
const { openVfioSource } = await import(`${dist}/source/vfio.js`);

const painterBin = process.argv[2];
const log = (m) => console.log(`devloss: ${m}`);
const figure = (name, value) => log(`FIGURE ${name} ${value}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let fail = 0;

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Starts `echo 1 > remove` (it blocks while anyone holds the device); resolves when it returns. */
function startRemoval(uuid) {
  const t0 = performance.now();
  const child = spawn('sh', ['-c', `echo 1 > /sys/bus/mdev/devices/${uuid}/remove`], { stdio: 'inherit' });
  const done = new Promise((resolve) => child.once('exit', (code) => resolve({ code, ms: performance.now() - t0 })));
  return { t0, done, finished: () => child.exitCode !== null };
}

async function until(what, fn, ms = 20_000, stepMs = 20) {
  const end = performance.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** Does process `pid` hold a VFIO device fd (or a mapping of one)? */
function holdsVfio(pid) {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[vfio-device]') return true;
    } catch {}
  }
  return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('vfio-device');
}

/** DISPI mode through BAR2's registers (mbochs decodes by access size: one 2-byte write each). */
function setMode(device, w, h) {
  const reg = (i, v) => device.writeRegion(2, 0x500 + 2 * i, Buffer.from([v & 0xff, v >> 8]));
  for (const [i, v] of [[4, 0], [1, w], [2, h], [3, 32], [6, w], [8, 0], [9, 0], [4, 0x41]]) reg(i, v);
}

function paint(device, bytes) {
  const bar0 = device.mapRegion(0);
  try {
    bar0.write(0, bytes);
  } finally {
    bar0.close(); // a mapping holds the device too
  }
}

async function capturedIs(source, width, height, expected) {
  const frame = await until(`a ${width}x${height} plane`, async () => {
    const f = await source.nextFrame();
    return f.kind === 'plane' && f.plane.width === width && f.plane.height === height ? f : undefined;
  });
  const surface = Buffer.alloc(width * height * 4);
  await native.capture(frame.mapping, frame.plane, surface, 32, true);
  assert(surface.equals(expected), `captured ${width}x${height} differs from the painted picture`);
}

// The server for part 2 starts first and part 1 runs once it is up and idle (no client yet): its
// load under TCG is the longest step, and part 1's figures should not include it.
const serving = process.env.VFIO_SERVE ? startServing() : undefined;
serving?.catch(() => {}); // reported below
await serving?.then((s) => s.serverSaid(/serving .*\(1024x768\)/, 150_000)).catch(() => {});

// ---- 1. --device /dev/vfio/N --device-name UUID, in process --------------------------------
try {
  const t = performance.now();
  const dev = createMdev('mbochs_rw-small');
  const lines = [];
  const { source } = await openVfioSource({ kind: 'path', path: dev.group, deviceName: dev.uuid }, { log: (m) => { lines.push(m); log(`  source: ${m}`); } });
  setMode(source.device, 1024, 768);
  paint(source.device, pictureXrgb(1024, 768, 3));
  await capturedIs(source, 1024, 768, pictureXrgb(1024, 768, 3));
  const removal = startRemoval(dev.uuid);
  const frame = await until('no signal', async () => {
    const f = await source.nextFrame();
    return f.kind === 'no-signal' ? f : undefined;
  });
  const noSignalMs = performance.now() - removal.t0;
  assert(frame.reason === `the device was removed (${dev.uuid})`, `reason: ${frame.reason}`);
  const removed = await removal.done;
  assert(removed.code === 0, `remove exited ${removed.code}`);
  assert(!holdsVfio(process.pid), 'this process still holds a VFIO device after the loss');
  figure('path.noSignalMs', noSignalMs.toFixed(0));
  figure('path.removalDoneMs', removed.ms.toFixed(0));
  // A filler takes the freed group number, so the re-created UUID lands in another group.
  const filler = createMdev('mbochs_rw-small');
  const t1 = performance.now();
  const again = createMdev('mbochs_rw-small', dev.uuid);
  assert(again.group !== dev.group, `re-created in the same group ${again.group}`);
  await until('the device back', async () => (await source.nextFrame()).reason !== frame.reason);
  figure('path.reattachMs', (performance.now() - t1).toFixed(0));
  assert(lines.some((l) => l.includes(`device back`) && l.includes(`now ${again.group}`)), `no "device back ... now ${again.group}" line`);
  setMode(source.device, 1280, 720);
  paint(source.device, pictureXrgb(1280, 720, 4));
  await capturedIs(source, 1280, 720, pictureXrgb(1280, 720, 4));
  await source.close();
  for (const u of [filler.uuid, dev.uuid]) writeFileSync(`/sys/bus/mdev/devices/${u}/remove`, '1');
  log(`PASS path: removed, followed ${dev.group} -> ${again.group}, new picture exact (${(performance.now() - t).toFixed(0)} ms)`);
} catch (err) {
  fail++;
  log(`FAIL path: ${err?.stack ?? err}`);
}

if (serving) {
  try {
    await serveForHost(await serving);
  } catch (err) {
    fail++;
    log(`FAIL serve: ${err?.stack ?? err}`);
  }
}
log(`DONE fail ${fail}`);
process.exit(fail === 0 ? 0 : 1);

async function waitForFile(path, ms = 120_000) {
  await until(path, () => existsSync(path), ms, 50);
}

function startPainter(dev) {
  return startPainterIn(painterBin, dev);
}

function picture(width, height, seed) {
  const file = `/tmp/picture-${width}x${height}-${seed}.raw`;
  writeFileSync(file, pictureXrgb(width, height, seed));
  return file;
}

// ---- 2. vgpu-vnc --vmm-pid, a real client on the host -----------------------------------------
async function startServing() {
  const dev = createMdev('mbochs_rw-medium');
  const painter = await startPainter(dev);
  await painter.send('mode 1024 768');
  await painter.send(`paint ${picture(1024, 768, 7)}`);
  const server = spawn(process.execPath, ['/project/bin/vgpu-vnc', '--vmm-pid', String(painter.pid), '--listen', '0.0.0.0:5900', '--insecure', '--max-fps', '30', '--resolution', '1280x720'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  const stamped = []; // [ms, line]
  server.stderr.on('data', (d) => {
    stderr += d;
    for (const l of String(d).split('\n').filter(Boolean)) {
      stamped.push([performance.now(), l]);
      log(`server: ${l}`);
    }
  });
  const serverSaid = (pattern, ms = 30_000) =>
    until(`vgpu-vnc to say ${pattern}`, () => {
      if (server.exitCode !== null) throw new Error(`vgpu-vnc exited (${server.exitCode}): ${stderr}`);
      return stamped.find(([, l]) => pattern.test(l));
    }, ms);
  return { dev, painter, server, stamped, serverSaid, get stderr() { return stderr; } };
}

async function serveForHost({ dev, painter, server, stamped, serverSaid }) {
  await serverSaid(/serving .*\(1024x768\)/, 150_000); // node + the project over 9p, under TCG: 15-60 s
  log('READY picture');

  await waitForFile('/results/remove');
  const removal = startRemoval(dev.uuid);
  const [loggedAt] = await serverSaid(/display: no signal: the device was removed/);
  figure('serve.noSignalLoggedMs', (loggedAt - removal.t0).toFixed(0));
  // The server let go (no fd, no mapping) while the painter still holds the device: the removal waits for the painter only.
  await until('vgpu-vnc to release the device', () => !holdsVfio(server.pid), 5000);
  figure('serve.releasedMs', (performance.now() - removal.t0).toFixed(0));
  assert(!removal.finished() && holdsVfio(painter.pid), 'the removal finished although the painter holds the device');
  // Meanwhile the device still works for its other holder (nothing fails until the last one lets go).
  await painter.send('mode 1024 768');
  await painter.send(`paint ${picture(1024, 768, 8)}`);
  log(`READY nosignal ${dev.uuid}`);
  const tDrop = performance.now();
  await painter.send('drop');
  const removed = await removal.done;
  assert(removed.code === 0, `remove exited ${removed.code}`);
  figure('serve.removalAfterDropMs', (performance.now() - tDrop).toFixed(0));

  await waitForFile('/results/recreate');
  const tCreate = performance.now();
  const next = createMdev('mbochs_rw-medium');
  await painter.send(`open ${next.group} ${next.uuid}`);
  await painter.send('mode 1280 720');
  await painter.send(`paint ${picture(1280, 720, 9)}`);
  const [backAt] = await serverSaid(/vfio: device back/);
  const [planeAt] = await serverSaid(/: 1280x720 \S+ stride/);
  figure('serve.reattachMs', (backAt - tCreate).toFixed(0));
  figure('serve.pictureLoggedMs', (planeAt - tCreate).toFixed(0));
  // --resolution reaches the new device too.
  await until('the EDID written to the new device', () => stamped.filter(([, l]) => /EDID for 1280x720 written/.test(l)).length >= 2, 10_000);
  log(`READY back ${next.uuid}`);

  await waitForFile('/results/done');
  assert(server.exitCode === null, `vgpu-vnc exited (${server.exitCode})`);
  figure('serve.serverPid', `${server.pid} stayed up`);
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await painter.stop();
  log('PASS serve');
}
