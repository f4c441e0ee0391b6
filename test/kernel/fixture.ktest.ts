// The mbochs_rw fixture itself (test/kernel/mbochs_rw.patch): its dma-bufs are taken again and
// again, across a mode change and back, twice at once, then the device closes and its memory is
// reused; the pixels must stay exact and the guest kernel must not complain. Stock mbochs fails
// this way with "BUG: Bad page state" / "Bad page map" (see test/kernel/README.md).
import { afterAll, expect, test } from 'vitest';
import { buildForGuest } from './build-for-guest.js';
import { formatPhases, startGuest, type Guest } from './run.mjs';

let guest: Guest | undefined;
afterAll(async () => {
  await guest?.stop();
});

test('mbochs_rw dma-bufs: re-exported, mapped, mode change and back, device closed; no kernel complaint', async () => {
  buildForGuest();
  guest = startGuest({ script: 'test/kernel/guest/dmabuf-refs.sh', modules: ['mbochs_rw'], echo: true, timeoutMs: 180_000 });
  const r = await guest.exited;
  console.log(`fixture ktest: guest ${formatPhases(r.phases)}`);
  expect(r.kernelComplaints).toEqual([]);
  expect(guest.lines.some((l) => /^refs: PASS mbochs_rw-small: /.test(l))).toBe(true);
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
});
