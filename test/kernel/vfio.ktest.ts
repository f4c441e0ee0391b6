// Real VFIO display devices (mdpy, mbochs_rw, stock mbochs) in the kernel test guest. A painter
// process holds each device like a VMM and paints known pictures; vgpu-vnc's vfio source attaches
// to it by fd passing and by pidfd_getfd and must capture exactly those pixels (checked in the guest,
// test/kernel/guest/vfio-attach.mjs). Then the guest serves a painted mbochs_rw device over VNC and a
// real client on the host (libvncclient, through QEMU's hostfwd) must receive exactly the painted
// picture, and the new size and picture after a mode change.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { freeVncPort, grabLibvnc } from '../helpers/clients.js';
import { pictureRgb } from './guest/picture.mjs';
import { buildForGuest } from './build-for-guest.js';
import { formatPhases, startGuest, type Guest } from './run.mjs';

let guest: Guest | undefined;
afterAll(async () => {
  await guest?.stop();
});

test('vfio source on mdpy / mbochs_rw / stock mbochs, attached to a painter; a VNC client sees the painted pixels', async () => {
  const t0 = performance.now();
  buildForGuest();
  const tBuilt = performance.now();
  const port = await freeVncPort();
  guest = startGuest({
    script: 'test/kernel/guest/vfio-attach.sh',
    forwards: [{ port, guest: 5900 }],
    env: { VFIO_SERVE: '1' },
    echo: true,
  });
  await guest.waitFor(/^vfio: READY 1/, 200_000);
  const tReady = performance.now();
  expect(guest.lines).toContain('vfio: DONE pass 3 fail 0');

  const first = await grabLibvnc(port, { encodings: ['zrle', 'raw'], timeoutMs: 30_000 });
  expect([first.width, first.height]).toEqual([1024, 768]);
  expect(first.rgb.equals(pictureRgb(1024, 768, 7))).toBe(true);
  const tFirst = performance.now();

  // A client connected across the mode change must get the new size and the new picture.
  const during = grabLibvnc(port, { encodings: ['zrle', 'raw'], expectSize: { width: 1280, height: 720 }, timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 1000));
  writeFileSync(join(guest.resultsDir, 'next'), '');
  await guest.waitFor(/^vfio: READY 2/, 60_000);
  const second = await during;
  expect([second.width, second.height]).toEqual([1280, 720]);
  expect(second.rgb.equals(pictureRgb(1280, 720, 8))).toBe(true);
  const tSecond = performance.now();

  writeFileSync(join(guest.resultsDir, 'done'), '');
  const r = await guest.exited;
  const s = (a: number, b: number) => `${((b - a) / 1000).toFixed(1)} s`;
  console.log(
    `vfio ktest phases: build ${s(t0, tBuilt)}, boot + guest checks ${s(tBuilt, tReady)}, first VNC grab ${s(tReady, tFirst)}, ` +
      `mode change grab ${s(tFirst, tSecond)}; guest ${formatPhases(r.phases)}`,
  );
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
  expect(r.kernelComplaints).toEqual([]); // e.g. "BUG: Bad page state" from a driver, after all checks passed
});
