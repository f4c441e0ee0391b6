// Runs inside the kernel test guest: the mbochs_rw fixture's dma-buf references
// (test/kernel/mbochs_rw.patch). A painter holds an mbochs_rw device and paints it; we take the
// same dma-buf id again and again (VFIO_DEVICE_GET_GFX_DMABUF after the previous one was released:
// the driver exports it anew) and map it, across a mode change and back, and take one live
// dma-buf twice at once. Then the painter quits (the device closes and drops its memory) and we
// touch a lot of memory, so that pages freed too early would be handed out again. Every mapping
// must show exactly what was painted, and the kernel must not complain. Stock mbochs fails this
// (its second release of a re-exported dma-buf frees pages still in use), so it is not run here.
//   node dmabuf-refs.mjs PAINTER [TYPE] [ROUNDS]   (TYPE default mbochs_rw-small, ROUNDS 8)
// Prints "refs: PASS …" or "refs: FAIL …", and the kernel's complaints as "refs: dmesg| …".
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { pictureXrgb } from './picture.mjs';
import { createMdev, startPainter } from './painter-lib.mjs';

const { native } = await import('/project/dist/src/native.js');
const [painterBin, type = 'mbochs_rw-small', roundsArg = '8'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const log = (m) => console.log(`refs: ${m}`);

function paint(width, height, seed) {
  const bytes = pictureXrgb(width, height, seed);
  const file = `/tmp/refs-${width}x${height}-${seed}.raw`;
  writeFileSync(file, bytes);
  return { bytes, file };
}

/** The primary plane once the device answers for this mode (the first query after a change is ENOMEM). */
async function planeOf(device, width, height) {
  let last;
  for (let i = 0; i < 20; i++) {
    last = device.queryPlane('primary', 'dmabuf');
    if (last.ok && last.width === width && last.height === height) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${width}x${height} plane: ${last.ok ? `${last.width}x${last.height}` : last.code}`);
}

function expectPixels(mapping, expected, what) {
  if (!mapping.read(0, expected.length).equals(expected)) throw new Error(`${what}: pixels differ from the painted picture`);
}

/** Takes the plane's dma-buf `rounds` times, each released before the next; then twice at once. */
function takeAgainAndAgain(device, plane, expected) {
  for (let i = 0; i < rounds; i++) {
    const mapping = device.getDmabuf(plane.dmabufId);
    expectPixels(mapping, expected, `dma-buf ${plane.dmabufId}, export ${i + 1}`);
    mapping.close();
  }
  const both = [device.getDmabuf(plane.dmabufId), device.getDmabuf(plane.dmabufId)];
  for (const m of both) expectPixels(m, expected, `dma-buf ${plane.dmabufId} taken twice`);
  for (const m of both) m.close();
}

const t0 = performance.now();
let failure;
try {
  const dev = createMdev(type);
  const painter = await startPainter(painterBin, dev);
  const fd = Number(/ fd (\d+)/.exec(painter.ready)?.[1]);
  const device = native.vfioDeviceFromFd(native.vfioTakeFdFromPid(painter.pid, fd), 'refs');
  const ids = [];
  for (const [w, h, seed] of [[1024, 768, 1], [640, 480, 2], [1024, 768, 3]]) {
    await painter.send(`mode ${w} ${h}`);
    const pic = paint(w, h, seed);
    await painter.send(`paint ${pic.file}`);
    const plane = await planeOf(device, w, h);
    ids.push(plane.dmabufId);
    takeAgainAndAgain(device, plane, pic.bytes);
  }
  if (ids[0] !== ids[2]) throw new Error(`mode back to 1024x768 gave dma-buf ${ids[2]}, not ${ids[0]} again: no re-export tested`);
  device.close();
  await painter.send('quit');
  await new Promise((r) => painter.child.once('exit', r));
  log(`${type}: dma-buf ids ${ids.join(',')}, each taken ${rounds} times and twice at once, pixels exact; device closed`);
} catch (err) {
  failure = err?.message ?? String(err);
}
// Freed pages go back to the allocator; touching a lot of memory hands them out again, which is
// where a page freed while still referenced or mapped shows ("Bad page state", "Bad page map").
for (let i = 0; i < 4; i++) Buffer.alloc(96 << 20, i + 1);

const complaints = execFileSync('dmesg', { encoding: 'utf8' })
  .split('\n')
  .filter((l) => /BUG:|Bad page|WARNING:|page dumped because|refcount|Oops|general protection/.test(l));
for (const l of complaints) log(`dmesg| ${l}`);
if (failure || complaints.length) {
  log(`FAIL ${type}: ${failure ?? 'the kernel complained'}`);
  process.exit(1);
}
log(`PASS ${type}: no kernel complaint after the device closed and its memory was reused (${(performance.now() - t0).toFixed(0)} ms)`);
