// Runs inside the kernel test guest (node, the project's dist/ and addon from /project).
// For each driver a painter process holds the device like a VMM and paints known pictures
// through BAR0; vgpu-vnc's VfioSource attaches to it (fd passing over a unix socket, and
// pidfd_getfd from the painter's pid), captures, and must see exactly the painted pixels.
//   node vfio-attach.mjs PAINTER   (devices: mdpy-xga, mbochs_rw-medium, mbochs-medium)
// Prints "vfio: PASS name (ms)" / "vfio: FAIL name: why" lines and "vfio: DONE pass N fail M".
// With VFIO_SERVE=1 it then runs `vgpu-vnc --vmm-pid` on a painted mbochs_rw device (port 5900) for the host's
// client: "vfio: READY 1" (1024x768, seed 7); after the host creates /results/next, a mode change
// and "vfio: READY 2" (1280x720, seed 8); it ends when the host creates /results/done.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { pictureXrgb } from './picture.mjs';
import { createMdev, startPainter as startPainterIn } from './painter-lib.mjs';

const dist = '/project/dist/src';
const { native } = await import(`${dist}/native.js`);
const { VfioSource } = await import(`${dist}/source/vfio.js`);
const { openVfioDevice } = await import(`${dist}/source/vfio-open.js`);
const { writeEdid, readEdidRegs, findEdidRegion, buildEdid } = await import(`${dist}/source/vfio-edid.js`);
const { probeDevice, formatProbeReport } = await import(`${dist}/source/vfio-probe.js`);

const painterBin = process.argv[2];
let pass = 0, fail = 0;
const log = (m) => console.log(`vfio: ${m}`);

async function check(name, fn) {
  const t0 = performance.now();
  try {
    await fn();
    pass++;
    log(`PASS ${name} (${(performance.now() - t0).toFixed(0)} ms)`);
  } catch (err) {
    fail++;
    log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function startPainter(dev, socket) {
  return startPainterIn(painterBin, dev, socket);
}

/** XRGB8888 picture (X byte 0), a function of (x, y, seed); written to a file for the painter. */
function picture(width, height, seed) {
  const b = pictureXrgb(width, height, seed);
  const file = `/tmp/picture-${width}x${height}-${seed}.raw`;
  writeFileSync(file, b);
  return { bytes: b, file };
}

/** Polls like the server does until a plane of the wanted size shows up (ENOMEM after a mode change is normal). */
async function frameOf(source, width, height, tries = 20) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await source.nextFrame();
    if (last.kind === 'plane' && last.plane.width === width && last.plane.height === height) return last;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`no ${width}x${height} plane: last ${JSON.stringify(last.kind === 'plane' ? last.plane : last)}`);
}

async function capturedEquals(frame, expected) {
  const surface = Buffer.alloc(frame.plane.width * frame.plane.height * 4);
  const t0 = performance.now();
  const result = await native.capture(frame.mapping, frame.plane, surface, 32, true);
  const ms = performance.now() - t0;
  if (!surface.equals(expected)) {
    let bad = 0, first = -1;
    for (let i = 0; i < surface.length; i += 4) if (surface.readUInt32LE(i) !== expected.readUInt32LE(i)) { bad++; if (first < 0) first = i / 4; }
    throw new Error(`${bad} of ${surface.length / 4} pixels differ (first at pixel ${first})`);
  }
  return { ms, dirty: result.dirtyCount };
}

const logs = [];
const sourceLog = (m) => { logs.push(m); log(`  source: ${m}`); };

// ---- mdpy (REGION) -------------------------------------------------------------------------
await check('mdpy-xga: region plane via fd passing and pidfd_getfd, exact pixels, live change', async () => {
  const dev = createMdev('mdpy-xga');
  const painter = await startPainter(dev, '/tmp/mdpy.sock');
  try {
    // The group is held: opening it directly names the painter.
    const busy = await openVfioDevice({ kind: 'path', path: dev.group }).catch((e) => e);
    assert(busy.code === 'EBUSY', `direct open: ${busy.code} ${busy.message}`);
    assert(busy.message.includes(`pid ${painter.pid} (painter)`) && busy.message.includes(`--vmm-pid ${painter.pid}`), busy.message);
    log(`  busy: ${busy.message}`);

    const a = picture(1024, 768, 1);
    await painter.send(`paint ${a.file}`);
    let t0 = performance.now();
    const bySocket = await openVfioDevice({ kind: 'socket', path: '/tmp/mdpy.sock' });
    log(`  attach by socket: ${(performance.now() - t0).toFixed(1)} ms (${bySocket.description})`);
    log(formatProbeReport(probeDevice(bySocket)).split('\n').map((l) => `  probe| ${l}`).join('\n'));
    const src = new VfioSource(bySocket, { log: sourceLog });
    let frame = await frameOf(src, 1024, 768);
    assert(src.planeKind === 'region', `kind ${src.planeKind}`);
    let c = await capturedEquals(frame, a.bytes);
    log(`  socket: 1024x768 exact, capture ${c.ms.toFixed(1)} ms`);
    // The picture changes while we are attached: the same mapping shows it.
    const b = picture(1024, 768, 2);
    await painter.send(`paint ${b.file}`);
    const again = await src.nextFrame();
    assert(again.mapping === frame.mapping, 'the region was remapped although index and size did not change');
    c = await capturedEquals(again, b.bytes);
    log(`  live change seen, capture ${c.ms.toFixed(1)} ms`);
    await src.close();

    t0 = performance.now();
    const byPid = await openVfioDevice({ kind: 'pid', pid: painter.pid });
    log(`  attach by pidfd_getfd: ${(performance.now() - t0).toFixed(1)} ms (${byPid.description})`);
    const src2 = new VfioSource(byPid, { log: sourceLog });
    frame = await frameOf(src2, 1024, 768);
    await capturedEquals(frame, b.bytes);
    await src2.close();
  } finally {
    await painter.stop();
  }
});

// ---- mbochs_rw (DMABUF, mmap-able) ----------------------------------------------------------
await check('mbochs_rw-medium: dma-buf plane, exact pixels, mode change, disabled plane, EDID', async () => {
  const dev = createMdev('mbochs_rw-medium');
  const painter = await startPainter(dev, '/tmp/rw.sock');
  try {
    await painter.send('mode 1024 768');
    const a = picture(1024, 768, 3);
    await painter.send(`paint ${a.file}`);
    const device = await openVfioDevice({ kind: 'pid', pid: painter.pid });
    log(formatProbeReport(probeDevice(device)).split('\n').map((l) => `  probe| ${l}`).join('\n'));
    const src = new VfioSource(device, { log: sourceLog, closeDevice: false });
    let frame = await frameOf(src, 1024, 768);
    assert(src.planeKind === 'dmabuf', `kind ${src.planeKind}`);
    let c = await capturedEquals(frame, a.bytes);
    log(`  1024x768 exact through the dma-buf, capture ${c.ms.toFixed(1)} ms`);
    assert(frame.mapping.writable === false, 'a dma-buf mapping must be read-only');
    const denied = (() => { try { frame.mapping.writeU32(0, 1); } catch (e) { return e.code; } })();
    assert(denied === 'EACCES', `writeU32 on the dma-buf mapping: ${denied}`);
    assert(frame.mapping.readU32(4) === a.bytes.readUInt32LE(4), 'readU32 through the dma-buf (SYNC-bracketed)');
    // Mode change: 1280x720 (page-aligned), new picture.
    const b = picture(1280, 720, 4);
    await painter.send('mode 1280 720');
    await painter.send(`paint ${b.file}`);
    frame = await frameOf(src, 1280, 720);
    c = await capturedEquals(frame, b.bytes);
    log(`  mode change to 1280x720 exact, capture ${c.ms.toFixed(1)} ms`);
    assert(logs.some((l) => l.includes('busy (ENOMEM)')), 'expected the ENOMEM after a mode change to be seen and logged');
    // Back to 1024x768: id reuse or not, the picture must be the new one.
    const d = picture(1024, 768, 5);
    await painter.send('mode 1024 768');
    await painter.send(`paint ${d.file}`);
    frame = await frameOf(src, 1024, 768);
    await capturedEquals(frame, d.bytes);
    await painter.send('disable');
    const off = await src.nextFrame();
    assert(off.kind === 'no-signal' && off.reason === 'guest is not scanning out', `disabled: ${JSON.stringify(off)}`);
    await src.close();

    // EDID: written through the region, read back.
    const index = findEdidRegion(device);
    assert(index !== undefined, 'no EDID region');
    const before = readEdidRegs(device, index);
    const r = await writeEdid(device, 1280, 720);
    const regs = readEdidRegs(device, index);
    const blob = device.readRegion(index, regs.edidOffset, regs.edidSize);
    assert(regs.linkState === 1 && regs.edidSize === 128, `regs ${JSON.stringify(regs)}`);
    assert(blob.equals(buildEdid(r.width, r.height)), 'EDID blob read back differs');
    log(`  EDID ${r.width}x${r.height} written to region ${index} (max ${before.maxXres}x${before.maxYres}, clamped ${r.clamped})`);
    device.close();
  } finally {
    await painter.stop();
  }
});

// ---- stock mbochs: dma-buf cannot be mmapped ------------------------------------------------
await check('mbochs-medium (stock): the mmap refusal is a clear no-signal reason', async () => {
  const dev = createMdev('mbochs-medium');
  const painter = await startPainter(dev, '/tmp/stock.sock');
  try {
    await painter.send('mode 1024 768');
    const device = await openVfioDevice({ kind: 'socket', path: '/tmp/stock.sock' });
    const src = new VfioSource(device, { log: sourceLog });
    let frame;
    for (let i = 0; i < 10; i++) {
      frame = await src.nextFrame();
      if (frame.kind === 'no-signal' && !frame.reason.includes('busy')) break;
    }
    assert(frame.kind === 'no-signal' && /does not allow CPU mmap/.test(frame.reason) && /stock mbochs/.test(frame.reason), `frame: ${JSON.stringify(frame)}`);
    log(`  reason: ${frame.reason}`);
    await src.close();
  } finally {
    await painter.stop();
  }
});

log(`DONE pass ${pass} fail ${fail}`);
if (process.env.VFIO_SERVE) await serveForHost();
process.exit(fail === 0 ? 0 : 1);

async function waitForFile(path, ms = 120_000) {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} never appeared`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The real command, as a user runs it next to a VMM: `vgpu-vnc --vmm-pid PID` takes the device
 * fd from the painter (pidfd_getfd) and serves it; the guest's address is not loopback, hence
 * --insecure (the host reaches it only through QEMU's hostfwd on 127.0.0.1).
 */
async function serveForHost() {
  const dev = createMdev('mbochs_rw-medium');
  const painter = await startPainter(dev, '/tmp/serve.sock');
  await painter.send('mode 1024 768');
  await painter.send(`paint ${picture(1024, 768, 7).file}`);
  // `vgpu-vnc probe`, the first thing a user runs, through the same attach path.
  const probe = execFileSync(process.execPath, ['/project/bin/vgpu-vnc', 'probe', '--vmm-pid', String(painter.pid)], { encoding: 'utf8' });
  process.stdout.write(probe.replace(/^(?=.)/gm, 'vfio: probe: '));
  assert(/display planes: .*dma-buf/.test(probe) && /primary: 1024x768/.test(probe) && /EDID region 9: max/.test(probe), 'probe output lacks the plane or EDID');
  const server = spawn(process.execPath, ['/project/bin/vgpu-vnc', '--vmm-pid', String(painter.pid), '--listen', '0.0.0.0:5900', '--insecure', '--max-fps', '30', '--resolution', '1280x720'], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  server.stderr.on('data', (d) => {
    stderr += d;
    process.stdout.write(String(d).replace(/^(?=.)/gm, 'vfio: server: '));
  });
  const serverSays = async (pattern, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!pattern.test(stderr)) {
      if (server.exitCode !== null) throw new Error(`vgpu-vnc exited (${server.exitCode}): ${stderr}`);
      if (Date.now() > end) throw new Error(`vgpu-vnc never said ${pattern}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await serverSays(/serving .*\(1024x768\)/);
  await serverSays(/EDID for 1280x720 written/);
  log('READY 1');
  await waitForFile('/results/next');
  await painter.send('mode 1280 720');
  await painter.send(`paint ${picture(1280, 720, 8).file}`);
  await serverSays(/1280x720/);
  log('READY 2');
  await waitForFile('/results/done');
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await painter.stop();
}
