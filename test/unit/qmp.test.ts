// QmpClient against a scripted QMP server on a unix socket (the real QEMU is in
// test/integration/input.test.ts), and QemuInputSink's translation of RFB input into
// input-send-event events.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QmpClient } from '../../src/input/qmp.js';
import { QemuInputSink, scaleAxis, type InputEvent } from '../../src/input/qemu-input.js';
import { qmpOption, UsageError } from '../../src/cli.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'vgpu-qmp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

interface FakeQmp {
  server: Server;
  path: string;
  sockets: Socket[];
  /** every message received, per connection */
  received: Array<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** A QMP server: greeting, then answers each command ({"return": {}} or `answer`). */
function fakeQmp(path = join(dir, `q${n++}.sock`), opts: { greeting?: string; answer?: (m: Record<string, unknown>) => unknown } = {}): Promise<FakeQmp> {
  const f: FakeQmp = { server: undefined as unknown as Server, path, sockets: [], received: [], close: async () => {} };
  f.server = createServer((s) => {
    f.sockets.push(s);
    const mine: Record<string, unknown>[] = [];
    f.received.push(mine);
    s.write(opts.greeting ?? '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        mine.push(msg);
        const answer = opts.answer?.(msg) ?? { return: {} };
        s.write(`${JSON.stringify({ ...(answer as object), id: msg.id })}\r\n`);
      }
    });
    s.on('error', () => {});
  });
  f.close = () =>
    new Promise((r) => {
      for (const s of f.sockets) s.destroy();
      f.server.close(() => r());
    });
  return new Promise((resolve) => f.server.listen(path, () => resolve(f)));
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const clients: QmpClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
function client(path: string, logs: string[] = []): QmpClient {
  const c = new QmpClient(path, { log: (m) => logs.push(m), minRetryMs: 20, maxRetryMs: 100 });
  clients.push(c);
  return c;
}

describe('QmpClient', () => {
  it('negotiates capabilities, then sends commands with their arguments', async () => {
    const q = await fakeQmp();
    const logs: string[] = [];
    const c = client(q.path, logs);
    await until(() => c.connected);
    expect(q.received[0]![0]).toMatchObject({ execute: 'qmp_capabilities' });
    expect(c.qemuVersion).toBe('7.2.0');
    expect(c.execute('input-send-event', { events: [] })).toBe(true);
    await until(() => q.received[0]!.length === 2);
    expect(q.received[0]![1]).toMatchObject({ execute: 'input-send-event', arguments: { events: [] } });
    expect(logs.some((l) => /connected \(QEMU 7\.2\.0\)/.test(l))).toBe(true);
    await q.close();
  });

  it('drops commands while not connected, and reconnects when QEMU comes back on the same path', async () => {
    const path = join(dir, `q${n++}.sock`);
    const logs: string[] = [];
    const c = client(path, logs); // nothing listens yet
    expect(c.execute('x')).toBe(false);
    expect(c.execute('y')).toBe(false);
    await new Promise((r) => setTimeout(r, 150)); // several retries
    expect(logs.filter((l) => /no such socket/.test(l))).toHaveLength(1); // an outage is logged once
    expect(logs.filter((l) => /not connected; input dropped/.test(l))).toHaveLength(1);
    let q = await fakeQmp(path);
    await until(() => c.connected);
    await q.close();
    rmSync(path, { force: true });
    await until(() => !c.connected);
    expect(logs.some((l) => /QEMU closed the connection; reconnecting/.test(l))).toBe(true);
    expect(c.execute('lost')).toBe(false);
    q = await fakeQmp(path); // QEMU restarted
    await until(() => c.connected);
    expect(c.execute('after')).toBe(true);
    await until(() => q.received[0]?.length === 2);
    expect(q.received[0]![1]).toMatchObject({ execute: 'after' });
    expect(c.dropped).toBe(3);
    await q.close();
  });

  it('an error answer is reported and logged once per message', async () => {
    const q = await fakeQmp(undefined, {
      answer: (m) => (m.execute === 'bad' ? { error: { class: 'GenericError', desc: 'Input handler not found' } } : undefined),
    });
    const logs: string[] = [];
    const c = client(q.path, logs);
    const errors: string[] = [];
    c.on('command-error', (e: string) => errors.push(e));
    await until(() => c.connected);
    c.execute('bad');
    c.execute('bad');
    await until(() => errors.length === 2);
    expect(errors[0]).toBe('Input handler not found (GenericError)');
    expect(logs.filter((l) => /refused a command: Input handler not found/.test(l))).toHaveLength(1);
    await q.close();
  });

  it('something that is not QMP is refused with a reason and retried', async () => {
    const q = await fakeQmp(undefined, { greeting: 'SSH-2.0-OpenSSH\r\n' });
    const logs: string[] = [];
    const c = client(q.path, logs);
    await until(() => logs.some((l) => /not a QMP socket/.test(l)));
    expect(c.connected).toBe(false);
    await q.close();
  });

  it('when QEMU does not read, commands are dropped instead of buffered', async () => {
    const q = await fakeQmp();
    const c = new QmpClient(q.path, { highWater: 4096 });
    clients.push(c);
    await until(() => c.connected);
    q.sockets[0]!.pause();
    const big = { blob: 'x'.repeat(64 * 1024) };
    let sent = 0;
    for (let i = 0; i < 1000 && c.execute('big', big); i++) sent++;
    expect(sent).toBeLessThan(1000);
    expect(c.dropped).toBe(1);
    await q.close();
  });
});

describe('QemuInputSink', () => {
  function sink(size = { width: 1280, height: 720 }) {
    const sent: InputEvent[][] = [];
    let accept = true;
    const logs: string[] = [];
    const s = new QemuInputSink(
      {
        execute: (cmd, args) => {
          expect(cmd).toBe('input-send-event');
          if (accept) sent.push((args as { events: InputEvent[] }).events);
          return accept;
        },
      },
      () => size,
      (m) => logs.push(m),
    );
    return { s, sent, logs, setAccept: (v: boolean) => (accept = v) };
  }

  it('scales pixels to 0..32767 with the last pixel at 32767, clamping outside', () => {
    expect(scaleAxis(0, 1280)).toBe(0);
    expect(scaleAxis(1279, 1280)).toBe(32767);
    expect(scaleAxis(5000, 1280)).toBe(32767);
    expect(scaleAxis(-3, 1280)).toBe(0);
    expect(scaleAxis(1, 2)).toBe(32767);
    expect(scaleAxis(0, 1)).toBe(0);
  });

  it('moves before buttons, only changes, wheel as press/release', () => {
    const { s, sent } = sink();
    s.pointer(0, 10, 20);
    s.pointer(1, 10, 20);
    s.pointer(1 | 8, 10, 20);
    s.pointer(0, 11, 20);
    s.pointer(0, 11, 20); // nothing changed: nothing sent
    expect(sent).toEqual([
      [{ type: 'abs', data: { axis: 'x', value: scaleAxis(10, 1280) } }, { type: 'abs', data: { axis: 'y', value: scaleAxis(20, 720) } }],
      [{ type: 'btn', data: { down: true, button: 'left' } }],
      [{ type: 'btn', data: { down: true, button: 'wheel-up' } }],
      [
        { type: 'abs', data: { axis: 'x', value: scaleAxis(11, 1280) } },
        { type: 'btn', data: { down: false, button: 'left' } },
        { type: 'btn', data: { down: false, button: 'wheel-up' } },
      ],
    ]);
  });

  it('a dropped command is sent again with the next event; reset() forgets what QEMU knew', () => {
    const { s, sent, setAccept } = sink();
    setAccept(false);
    s.pointer(4, 5, 5);
    setAccept(true);
    s.pointer(4, 5, 5);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContainEqual({ type: 'btn', data: { down: true, button: 'right' } });
    s.reset();
    s.pointer(4, 5, 5);
    expect(sent[1]).toHaveLength(3);
  });

  it('releaseAll lets go of the keys and buttons still held, once', () => {
    const { s, sent } = sink();
    s.key(true, 0xffe3); // Ctrl down
    s.key(true, 0x61);
    s.key(false, 0x61);
    s.pointer(1, 3, 3);
    sent.length = 0;
    s.releaseAll();
    expect(sent).toEqual([[{ type: 'key', data: { down: false, key: { type: 'qcode', data: 'ctrl' } } }, { type: 'btn', data: { down: false, button: 'left' } }]]);
    s.releaseAll();
    expect(sent).toHaveLength(1);
  });

  it('keys: scancode first, keysym fallback, unmapped logged once', () => {
    const { s, sent, logs } = sink();
    s.key(true, 0xfc, 0x1a);
    s.key(true, 0x41);
    s.key(true, 0xfc);
    s.key(false, 0xfc);
    expect(sent).toEqual([
      [{ type: 'key', data: { down: true, key: { type: 'qcode', data: 'bracket_left' } } }],
      [{ type: 'key', data: { down: true, key: { type: 'qcode', data: 'a' } } }],
    ]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/no key for keysym 0xfc on a US layout/);
  });
});

describe('--qmp', () => {
  it('a missing socket is fine (QEMU may start later); an empty path or a file that is not a socket is a one-line usage error', async () => {
    expect(qmpOption(join(dir, 'not-yet.sock'))).toBe(join(dir, 'not-yet.sock'));
    expect(qmpOption(undefined)).toBeUndefined();
    expect(() => qmpOption('')).toThrow(UsageError);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    expect(() => qmpOption(file)).toThrow(/not a unix socket/);
    const q = await fakeQmp();
    expect(qmpOption(q.path)).toBe(q.path);
    await q.close();
  });

  it('through the real command: exit 2 and one line', () => {
    const file = join(dir, 'plain-file-2');
    writeFileSync(file, 'x');
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/vgpu-vnc'), '--demo', '--qmp', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`vgpu-vnc: --qmp ${file}: not a unix socket (give QEMU's -qmp unix:PATH,server=on,wait=off)`]);
  });
});
