// The kernel test guest itself, used as a kernel test would use it: boot in
// the background with a host port forward, wait for the guest's READY line,
// talk to the guest over 127.0.0.1, then check the guest script's exit code.
import { connect } from 'node:net';
import { afterAll, expect, test } from 'vitest';
import { formatPhases, freePort, startGuest, type Guest } from './run.mjs';

/** Everything the guest sends on one connection to 127.0.0.1:port. */
function readAll(port: number): Promise<string> {
  return new Promise((ok, fail) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => { data += d; });
    sock.on('end', () => ok(data));
    sock.on('error', fail);
    sock.setTimeout(30_000, () => sock.destroy(new Error('no answer from the guest in 30 s')));
  });
}

let guest: Guest | undefined;
afterAll(async () => {
  await guest?.stop();
});

test('guest boots, creates mdevs, loads the addon, and a host forward reaches it', async () => {
  const port = await freePort();
  guest = startGuest({
    script: 'test/kernel/guest/smoke.sh',
    forwards: [{ port, guest: 5900 }],
    env: { SMOKE_PORT: '5900' },
    echo: true,
  });
  await guest.waitFor(/^smoke: READY/, 180_000);
  const banner = await readAll(port);
  // 3 mdevs: mdpy-xga, mbochs-medium, mbochs_rw-medium (all three modules load by default).
  expect(banner).toMatch(/^vgpu-smoke 6\.1\.\S+-amd64 3 mdevs\n$/);

  const r = await guest.exited;
  console.log(`guest phases: ${formatPhases(r.phases)}`);
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
  expect(r.kernelComplaints).toEqual([]); // e.g. "BUG: Bad page state" from a driver, after all checks passed
  expect(guest.lines).toContain('smoke: OK');
  expect(guest.lines.some((l) => /^smoke: \/dev\/vfio: 0 1 2 vfio\s*$/.test(l))).toBe(true);
  expect(guest.lines.some((l) => /^smoke: node v\d+\S* addon exports: \S/.test(l))).toBe(true);
});
