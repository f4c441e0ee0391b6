// Device loss: the mdev vgpu-vnc shows is removed while it serves (the VMM, a painter process, still
// holds it), then a new one is created and opened by the VMM. A real client on the host must see the
// painted picture, then the "no signal" screen naming the removed device (not the old picture), then
// the new picture, all from one server process; the removal must not wait for vgpu-vnc. In the guest
// (test/kernel/guest/device-loss.mjs) the same for --device /dev/vfio/N --device-name UUID, in
// process, following the re-created device to its new group. Flow: test/reliability/device-loss.ts.
import { expect, test } from 'vitest';
import { runDeviceLoss } from '../reliability/device-loss.js';

test('device removed while serving: released at once, no-signal screen with the reason, new device shown without a restart', async () => {
  const r = await runDeviceLoss();
  console.log(
    `device loss: ${JSON.stringify(r.figures)}; host: no-signal on the client ${r.hostNoSignalMs?.toFixed(0)} ms after asking for the removal, ` +
      `new picture ${r.hostNewPictureMs?.toFixed(0)} ms after asking for the new device; guest ${r.phases}` +
      (r.failures.length ? `\nfailures:\n${r.failures.join('\n')}` : ''),
  );
  expect(r.failures).toEqual([]);
  expect(r.pictureExact).toBe(true);
  expect(r.noSignalExact).toBe(true);
  expect(r.newPictureExact).toBe(true);
  expect(r.serverStayedUp).toBe(true);
  expect(r.figures['path.reattachMs']).toBeDefined();
}, 300_000);
