// Keyboard and pointer from a real VNC client (libvncclient, test/clients/vncinput.c) through
// vgpu-vnc --qmp into a real QEMU. QEMU traces every input event it receives (-trace input_event_*):
// the test reads those lines back. QEMU runs a bare PC with a virtio tablet and keyboard (the input
// handlers input-send-event needs); no guest OS is needed for QEMU to take the events. The kernel
// test (test/kernel/input.ktest.ts) checks that they also arrive in a guest's evdev devices.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { VncInputClient } from './input-client.js';

const haveQemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-input-'));
const qmpPath = join(dir, 'qmp.sock');
// The demo's mode (src/source/open.ts).
const WIDTH = 1280, HEIGHT = 720;

interface Qemu {
  child: ChildProcess;
  trace: string;
}

async function startQemu(name: string): Promise<Qemu> {
  rmSync(qmpPath, { force: true });
  const trace = join(dir, `${name}.trace`);
  const child = spawn(
    'qemu-system-x86_64',
    ['-machine', 'pc', '-accel', 'tcg', '-m', '64', '-display', 'none', '-nodefaults', '-no-reboot',
      '-device', 'virtio-tablet-pci', '-device', 'virtio-keyboard-pci',
      '-qmp', `unix:${qmpPath},server=on,wait=off`, '-trace', 'input_event_*', '-D', trace],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 200 && !existsSync(qmpPath); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(qmpPath)) throw new Error('QEMU did not create its QMP socket');
  return { child, trace };
}

async function stopQemu(q: Qemu | undefined): Promise<void> {
  if (!q || q.child.exitCode !== null) return;
  const gone = new Promise((r) => q.child.once('exit', r));
  q.child.kill('SIGTERM');
  await gone;
}

/** Input trace lines as compact strings: 'key a 1', 'abs x 32767', 'btn left 1'. */
function events(q: Qemu): string[] {
  const text = existsSync(q.trace) ? readFileSync(q.trace, 'utf8') : '';
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let m = /input_event_key_qcode con -?\d+, key qcode (\S+), down (\d)/.exec(line);
    if (m) out.push(`key ${m[1]} ${m[2]}`);
    m = /input_event_abs con -?\d+, axis (\S+), value (0x[0-9a-f]+)/.exec(line);
    if (m) out.push(`abs ${m[1]} ${Number(m[2])}`);
    m = /input_event_btn con -?\d+, button (\S+), down (\d)/.exec(line);
    if (m) out.push(`btn ${m[1]} ${m[2]}`);
  }
  return out;
}

/** Waits until QEMU's trace holds `expected` as a contiguous run after `from` events. */
async function expectEvents(q: Qemu, from: number, expected: string[], timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = events(q).slice(from);
    if (got.length >= expected.length) {
      expect(got.slice(0, expected.length)).toEqual(expected);
      return;
    }
    if (Date.now() > end) expect(got).toEqual(expected);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** QEMU's absolute axis: pixel 0 → 0, the last pixel → 32767 (INPUT_EVENT_ABS_MAX), linear between. */
const abs = (pixel: number, size: number) => Math.round((pixel * 0x7fff) / (size - 1));

describe.skipIf(!haveQemu)('input through QMP into QEMU', () => {
  let qemu: Qemu | undefined;
  let server: RunningServer | undefined;
  let client: VncInputClient | undefined;

  beforeAll(async () => {
    qemu = await startQemu('first');
    server = await startServer(['--demo', '--qmp', qmpPath]);
    await server.waitForLog(/qmp .*: connected \(QEMU \d+\.\d+\.\d+\)/);
    client = VncInputClient.start(server.port, { encodings: 'raw' });
    await client.waitFor(/^ready 1280x720$/);
    await client.waitFor(/^qemukey$/); // the server offers the extended key event when it has an input target
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await server?.stop();
    await stopQemu(qemu);
    rmSync(dir, { recursive: true, force: true });
  });

  test('keysyms become US-layout qcodes; Shift is the client\'s own', async () => {
    const from = events(qemu!).length;
    await client!.send('key 0xffe1 1'); // Shift_L
    await client!.send('key 0x41 1'); // 'A'
    await client!.send('key 0x41 0');
    await client!.send('key 0xffe1 0');
    await client!.send('key 0xff0d 1'); // Return
    await client!.send('key 0xff0d 0');
    await client!.send('key 0x3f 1'); // '?' is the slash key on a US layout
    await client!.send('key 0x3f 0');
    await expectEvents(qemu!, from, ['key shift 1', 'key a 1', 'key a 0', 'key shift 0', 'key ret 1', 'key ret 0', 'key slash 1', 'key slash 0']);
  });

  test('the extended key event carries the physical key: a German ü (keysym 0xfc) on XT 0x1a, arrows on E0 codes', async () => {
    const from = events(qemu!).length;
    await client!.send('xkey 0xfc 0x1a 1');
    await client!.send('xkey 0xfc 0x1a 0');
    await client!.send('xkey 0xff52 0xc8 1'); // Up: E0 48
    await client!.send('xkey 0xff52 0xc8 0');
    await client!.send('xkey 0xffea 0xb8 1'); // AltGr: E0 38
    await client!.send('xkey 0xffea 0xb8 0');
    await expectEvents(qemu!, from, ['key bracket_left 1', 'key bracket_left 0', 'key up 1', 'key up 0', 'key alt_r 1', 'key alt_r 0']);
  });

  test('a keysym with no US key and no scancode is dropped, logged once', async () => {
    const from = events(qemu!).length;
    await client!.send('key 0xfc 1');
    await client!.send('key 0xfc 0');
    await client!.send('key 0x7a 1'); // 'z' after it proves the connection still works
    await client!.send('key 0x7a 0');
    await expectEvents(qemu!, from, ['key z 1', 'key z 0']);
    await server!.waitForLog(/no key for keysym 0xfc/);
    expect(server!.log().match(/no key for keysym 0xfc/g)).toHaveLength(1);
  });

  test('pointer: absolute moves scaled to the guest mode, buttons and the wheel', async () => {
    const from = events(qemu!).length;
    await client!.send('ptr 0 0 0');
    await client!.send(`ptr ${WIDTH - 1} ${HEIGHT - 1} 1`); // left button down in the far corner
    await client!.send('ptr 640 360 0'); // move and release
    await client!.send('ptr 640 360 8'); // wheel up: press and release, as clients send it
    await client!.send('ptr 640 360 0');
    await client!.send('ptr 640 360 4'); // right click
    await client!.send('ptr 640 360 0');
    await client!.send('ptr 5000 5000 0'); // past the edge: clamped to the last pixel
    await expectEvents(qemu!, from, [
      'abs x 0', 'abs y 0',
      `abs x ${abs(WIDTH - 1, WIDTH)}`, `abs y ${abs(HEIGHT - 1, HEIGHT)}`, 'btn left 1',
      `abs x ${abs(640, WIDTH)}`, `abs y ${abs(360, HEIGHT)}`, 'btn left 0',
      'btn wheel-up 1', 'btn wheel-up 0',
      'btn right 1', 'btn right 0',
      'abs x 32767', 'abs y 32767',
    ]);
    expect(abs(WIDTH - 1, WIDTH)).toBe(32767);
  });

  test('a client that leaves with a key and a button held has them released', async () => {
    const from = events(qemu!).length;
    const other = VncInputClient.start(server!.port);
    await other.waitFor(/^ready /);
    await other.send('key 0xffe3 1'); // Ctrl
    await other.send('ptr 10 10 2'); // middle button
    await other.close();
    await expectEvents(qemu!, from, ['key ctrl 1', `abs x ${abs(10, WIDTH)}`, `abs y ${abs(10, HEIGHT)}`, 'btn middle 1', 'key ctrl 0', 'btn middle 0']);
  });

  test('QEMU restarts: the server reconnects and input flows again; meanwhile it is dropped, not queued', async () => {
    await stopQemu(qemu);
    await server!.waitForLog(/qmp .*: QEMU closed the connection; reconnecting/);
    await client!.send('key 0x71 1'); // 'q' while QEMU is away: dropped
    await client!.send('key 0x71 0');
    qemu = await startQemu('second');
    await server!.waitForLog(/connected \(QEMU[^\n]*\n(?:.*\n)*.*connected \(QEMU/, 20_000);
    await client!.send('key 0x77 1'); // 'w'
    await client!.send('key 0x77 0');
    await expectEvents(qemu, 0, ['key w 1', 'key w 0']);
    expect(events(qemu)).not.toContain('key q 1');
  }, 40_000);
});

describe('without --qmp', () => {
  test('the server is view-only: logged, shown in the desktop name, no QEMU extended key event offered', async () => {
    const server = await startServer(['--demo']);
    try {
      await server.waitForLog(/view-only: keyboard and pointer input is ignored \(give --qmp PATH/);
      const client = VncInputClient.start(server.port);
      try {
        await client.waitFor(/^ready /);
        expect(await client.waitFor(/^name /)).toMatch(/\(view-only\)$/);
        await client.send('key 0x61 1');
        await client.send('ptr 1 1 1');
        await server.waitForLog(/view-only: ignoring keyboard and pointer input/);
        expect(client.lines).not.toContain('qemukey');
      } finally {
        await client.close();
      }
    } finally {
      await server.stop();
    }
  }, 30_000);
});
