// An interactive console against a real guest kernel (test/kernel/guest/input-guest.mjs):
//
// Input: the guest QEMU gets a QMP socket and a virtio keyboard and tablet; vgpu-vnc on the host
// (--demo --qmp) forwards what a real VNC client (libvncclient, test/clients/vncinput.c) sends, and
// the guest prints the events its evdev devices report. Expected codes come from Linux's
// input-event-codes.h, and for XT scancodes 0x01..0x53 from the fact that XT set 1 make codes are
// Linux key codes there — neither from our own tables.
//
// Cursor: mdpy and mbochs have no cursor plane, and are recognised as such.
//
// Resize: a client's SetDesktopSize on mbochs_rw (served in the guest by vgpu-vnc --vmm-pid) is
// answered with status 4, the guest reads back a new EDID preferring that size (decoded
// independently in the guest), switches to it, and the client follows the mode change.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { freeVncPort } from '../helpers/clients.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { VncInputClient } from '../integration/input-client.js';
import { buildForGuest } from './build-for-guest.js';
import { formatPhases, startGuest, type Guest } from './run.mjs';

/** #define NAME VALUE from Linux's input-event-codes.h (the uapi header on the host). */
const codes = new Map<string, number>();
for (const m of readFileSync('/usr/include/linux/input-event-codes.h', 'utf8').matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\b/gm))
  codes.set(m[1]!, Number(m[2]));
const code = (name: string): number => {
  const v = codes.get(name);
  if (v === undefined) throw new Error(`${name} not in input-event-codes.h`);
  return v;
};
const EV_KEY = code('EV_KEY'), EV_REL = code('EV_REL'), EV_ABS = code('EV_ABS');
const key = (c: number, down: boolean) => `${EV_KEY} ${c} ${down ? 1 : 0}`;
const press = (c: number) => [key(c, true), key(c, false)];

const dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-kinput-'));
const qmpPath = join(dir, 'qmp.sock');
let guest: Guest | undefined;
let server: RunningServer | undefined;
const clients: VncInputClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.stop();
  if (guest) writeFileSync(join(guest.resultsDir, 'done'), '');
  await guest?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Key/rel/abs events the guest reported (autorepeats left out), from index `from` on. */
function evdev(from: number): string[] {
  return guest!.lines
    .filter((l) => l.startsWith('evdev: '))
    .map((l) => l.slice(7))
    .filter((l) => {
      const [type, , value] = l.split(' ').map(Number);
      return (type === EV_KEY && value !== 2) || type === EV_REL || type === EV_ABS;
    })
    .slice(from);
}

async function expectGuestEvents(from: number, expected: string[], timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (evdev(from).length < expected.length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  expect(evdev(from).slice(0, expected.length)).toEqual(expected);
}

test('keys and clicks from a VNC client arrive in the guest\'s evdev devices; SetDesktopSize reaches mbochs_rw\'s EDID', async () => {
  const t0 = performance.now();
  buildForGuest();
  const port = await freeVncPort();
  guest = startGuest({
    script: 'test/kernel/guest/input.sh',
    forwards: [{ port, guest: 5900 }],
    qemuArgs: ['-qmp', `unix:${qmpPath},server=on,wait=off`, '-device', 'virtio-keyboard-pci', '-device', 'virtio-tablet-pci'],
    echo: true,
    timeoutMs: 300_000,
  });
  await guest.waitFor(/^input: READY/, 200_000);
  await guest.waitFor(/^resize: READY/, 120_000);
  // Real drivers without a cursor plane must not give clients an (invisible) cursor.
  expect(await guest.waitFor(/^cursor: mdpy /)).toMatch(/^cursor: mdpy frame plane cursor none \(the cursor query answers with the primary plane/);
  expect(await guest.waitFor(/^cursor: mbochs_rw /)).toMatch(/^cursor: mbochs_rw frame plane cursor none$/);
  const tReady = performance.now();

  // ---- input: vgpu-vnc on the host, QMP into the guest's QEMU ----
  server = await startServer(['--demo', '--qmp', qmpPath]);
  await server.waitForLog(/qmp .*: connected/);
  const client = VncInputClient.start(server.port);
  clients.push(client);
  await client.waitFor(/^ready 1280x720$/);
  await client.waitFor(/^qemukey$/);

  let from = evdev(0).length;
  // Plain keysyms (US layout): 'a', Shift+'A', Return.
  await client.send('key 0x61 1');
  await client.send('key 0x61 0');
  await client.send('key 0xffe1 1');
  await client.send('key 0x41 1');
  await client.send('key 0x41 0');
  await client.send('key 0xffe1 0');
  await client.send('key 0xff0d 1');
  await client.send('key 0xff0d 0');
  await expectGuestEvents(from, [...press(code('KEY_A')), key(code('KEY_LEFTSHIFT'), true), ...press(code('KEY_A')), key(code('KEY_LEFTSHIFT'), false), ...press(code('KEY_ENTER'))]);

  // The extended key event: a German ü (keysym 0xfc, no US key) typed on the key right of P.
  from = evdev(0).length;
  await client.send('xkey 0xfc 0x1a 1');
  await client.send('xkey 0xfc 0x1a 0');
  await expectGuestEvents(from, press(code('KEY_LEFTBRACE')));

  // Every XT scancode 0x01..0x53 (and 0x56..0x58) is that Linux key code; E0 codes are the named keys.
  from = evdev(0).length;
  const scancodes = [...Array.from({ length: 0x53 }, (_, i) => i + 1), 0x56, 0x57, 0x58];
  const extended: Array<[number, string]> = [[0xc8, 'KEY_UP'], [0xd0, 'KEY_DOWN'], [0x9c, 'KEY_KPENTER'], [0xb8, 'KEY_RIGHTALT'], [0x9d, 'KEY_RIGHTCTRL'], [0xd3, 'KEY_DELETE'], [0xc7, 'KEY_HOME'], [0xdb, 'KEY_LEFTMETA'], [0xb5, 'KEY_KPSLASH']];
  for (const sc of scancodes) {
    await client.send(`xkey 0 ${sc} 1`);
    await client.send(`xkey 0 ${sc} 0`);
  }
  for (const [sc] of extended) {
    await client.send(`xkey 0 ${sc} 1`);
    await client.send(`xkey 0 ${sc} 0`);
  }
  await expectGuestEvents(from, [...scancodes.flatMap((sc) => press(sc)), ...extended.flatMap(([, name]) => press(code(name)))], 120_000);

  // Pointer: absolute position scaled to the 1280x720 mode (0..32767), buttons, wheel.
  from = evdev(0).length;
  const absOf = (p: number, size: number) => Math.round((p * 32767) / (size - 1));
  await client.send('ptr 100 50 0');
  await client.send('ptr 1279 719 1');
  await client.send('ptr 1279 719 0');
  await client.send('ptr 640 360 4');
  await client.send('ptr 640 360 0');
  await client.send('ptr 640 360 8');
  await client.send('ptr 640 360 0');
  await client.send('ptr 640 360 16');
  await client.send('ptr 640 360 0');
  const [ABS_X, ABS_Y, REL_WHEEL] = [code('ABS_X'), code('ABS_Y'), code('REL_WHEEL')];
  await expectGuestEvents(from, [
    `${EV_ABS} ${ABS_X} ${absOf(100, 1280)}`, `${EV_ABS} ${ABS_Y} ${absOf(50, 720)}`,
    `${EV_ABS} ${ABS_X} 32767`, `${EV_ABS} ${ABS_Y} 32767`, key(code('BTN_LEFT'), true),
    key(code('BTN_LEFT'), false),
    `${EV_ABS} ${ABS_X} ${absOf(640, 1280)}`, `${EV_ABS} ${ABS_Y} ${absOf(360, 720)}`, key(code('BTN_RIGHT'), true),
    key(code('BTN_RIGHT'), false),
    `${EV_REL} ${REL_WHEEL} 1`,
    `${EV_REL} ${REL_WHEEL} -1`,
  ]);
  const tInput = performance.now();

  // ---- resize: SetDesktopSize on mbochs_rw, served in the guest ----
  const viewer = VncInputClient.start(port);
  clients.push(viewer);
  await viewer.waitFor(/^ready 1024x768$/, 60_000);
  let mark = viewer.lines.length;
  await viewer.send('resize 1280 720');
  expect(await viewer.waitFor(/^extdesktop 1 /, 30_000, mark)).toBe('extdesktop 1 4 1024x768'); // forwarded
  await guest.waitFor(/^resize: EDID 1280x720 checksum ok$/, 60_000);
  await viewer.waitFor(/^size 1280x720$/, 60_000);
  // Larger than the device allows (mbochs-medium: at most 1920x1440): invalid, and no new EDID.
  mark = viewer.lines.length;
  await viewer.send('resize 2560 1600');
  expect(await viewer.waitFor(/^extdesktop 1 /, 30_000, mark)).toBe('extdesktop 1 3 1280x720');
  const tResize = performance.now();

  writeFileSync(join(guest.resultsDir, 'done'), '');
  const r = await guest.exited;
  expect(guest.lines.filter((l) => /^resize: EDID /.test(l))).toEqual(['resize: EDID 1280x720 checksum ok']);
  const s = (a: number, b: number) => `${((b - a) / 1000).toFixed(1)} s`;
  console.log(`input ktest: boot ${s(t0, tReady)}, input ${s(tReady, tInput)}, resize ${s(tInput, tResize)}; guest ${formatPhases(r.phases)}`);
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
  expect(r.kernelComplaints).toEqual([]); // e.g. "BUG: Bad page state" from a driver, after all checks passed
}, 600_000);
