// ClientSession over real loopback sockets with a fake display. The client side here is a
// small hand-written RFB client (it decodes Raw only), independent of src/rfb/.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientSession, HIGH_WATER } from '../../src/server/session.js';
import type { InputSink } from '../../src/server/display.js';
import { FakeDisplay } from '../helpers/fake-display.js';

const require = createRequire(import.meta.url);

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const s32 = (v: number) => u32(v >>> 0);

const RAW = 0, HEXTILE = 5, DESKTOP_SIZE = -223, LAST_RECT = -224, EXT_DESKTOP_SIZE = -308, FENCE = -312, CONTINUOUS = -313, QEMU_KEY = -258;

interface Rect { x: number; y: number; w: number; h: number }
interface UpdateRect extends Rect { encoding: number; data?: Buffer; screens?: Array<Rect & { id: number }> }
type ServerMessage =
  | { type: 'update'; rects: UpdateRect[] }
  | { type: 'endOfContinuousUpdates' }
  | { type: 'fence'; flags: number; payload: Buffer }
  | { type: 'bell' };

/** Minimal RFB client: exact reads over a socket, Raw decoding at 32 or 16 bpp. */
class TestClient {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiter: (() => void) | undefined;
  closed = false;
  bytesPerPixel = 4;
  width = 0;
  height = 0;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.length += c.length;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new TestClient(s)));
      s.once('error', reject);
    });
  }

  async read(n: number): Promise<Buffer> {
    while (this.length < n) {
      if (this.closed) throw new Error(`connection closed while waiting for ${n} bytes`);
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(n)];
    this.length -= n;
    return all.subarray(0, n);
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while (!this.closed) {
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }

  send(bytes: number[] | Buffer): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** 3.8 handshake with security None; returns the ServerInit fields. */
  async handshake(shared = true): Promise<{ width: number; height: number; name: string }> {
    expect((await this.read(12)).toString()).toBe('RFB 003.008\n');
    this.send(Buffer.from('RFB 003.008\n'));
    const n = (await this.read(1))[0]!;
    expect([...(await this.read(n))]).toEqual([1]);
    this.send([1]);
    expect((await this.read(4)).readUInt32BE(0)).toBe(0);
    this.send([shared ? 1 : 0]);
    const init = await this.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    // canonical format: 32 bpp, depth 24, little-endian, true colour, 255/255/255, 16/8/0
    expect([...init.subarray(4, 17)]).toEqual([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]);
    const name = (await this.read(init.readUInt32BE(20))).toString();
    return { width: this.width, height: this.height, name };
  }

  setEncodings(encodings: number[]): void {
    this.send([2, 0, ...u16(encodings.length), ...encodings.flatMap(s32)]);
  }

  request(incremental: boolean, r: Rect = { x: 0, y: 0, w: this.width, h: this.height }): void {
    this.send([3, incremental ? 1 : 0, ...u16(r.x), ...u16(r.y), ...u16(r.w), ...u16(r.h)]);
  }

  async readMessage(): Promise<ServerMessage> {
    const type = (await this.read(1))[0]!;
    switch (type) {
      case 0: {
        const count = (await this.read(3)).readUInt16BE(1);
        const rects: UpdateRect[] = [];
        for (let i = 0; count === 0xffff || i < count; i++) {
          const h = await this.read(12);
          const r: UpdateRect = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6), encoding: h.readInt32BE(8) };
          if (r.encoding === RAW) r.data = Buffer.from(await this.read(r.w * r.h * this.bytesPerPixel));
          else if (r.encoding === DESKTOP_SIZE) [this.width, this.height] = [r.w, r.h];
          else if (r.encoding === EXT_DESKTOP_SIZE) {
            const n = (await this.read(4))[0]!;
            r.screens = [];
            for (let s = 0; s < n; s++) {
              const b = await this.read(16);
              r.screens.push({ id: b.readUInt32BE(0), x: b.readUInt16BE(4), y: b.readUInt16BE(6), w: b.readUInt16BE(8), h: b.readUInt16BE(10) });
            }
            if (r.x === 0) [this.width, this.height] = [r.w, r.h];
          } else if (r.encoding === LAST_RECT) {
            rects.push(r);
            break;
          }
          else if (r.encoding === QEMU_KEY) {
            // no body
          }
          else {
            rects.push(r);
            return { type: 'update', rects }; // an encoding this client cannot decode: stop here
          }
          rects.push(r);
        }
        return { type: 'update', rects };
      }
      case 2:
        return { type: 'bell' };
      case 150:
        return { type: 'endOfContinuousUpdates' };
      case 248: {
        const h = await this.read(8);
        return { type: 'fence', flags: h.readUInt32BE(3), payload: Buffer.from(await this.read(h[7]!)) };
      }
      default:
        throw new Error(`unexpected server message type ${type}`);
    }
  }

  async readUpdate(): Promise<UpdateRect[]> {
    const m = await this.readMessage();
    if (m.type !== 'update') throw new Error(`expected an update, got ${m.type}`);
    return m.rects;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The surface bytes of `r` (canonical B,G,R,0), row after row. */
function surfaceRect(d: FakeDisplay, r: Rect): Buffer {
  const out = Buffer.alloc(r.w * r.h * 4);
  for (let y = 0; y < r.h; y++)
    d.surface.data.copy(out, y * r.w * 4, ((r.y + y) * d.surface.width + r.x) * 4, ((r.y + y) * d.surface.width + r.x + r.w) * 4);
  return out;
}

/** Which tiles of `d`'s grid the rects cover, as a sorted list of "tx,ty". */
function tilesOf(d: FakeDisplay, rects: Rect[]): string[] {
  const set = new Set<string>();
  const t = d.tileSize;
  for (const r of rects)
    for (let y = r.y; y < r.y + r.h; y++)
      for (let x = r.x; x < r.x + r.w; x++) set.add(`${Math.floor(x / t)},${Math.floor(y / t)}`);
  return [...set].sort();
}

interface Harness {
  server: Server;
  port: number;
  display: FakeDisplay;
  sessions: ClientSession[];
  serverSockets: Socket[];
  logs: string[];
  closeReasons: string[];
}

let harness: Harness | undefined;
const clients: TestClient[] = [];

async function serve(display: FakeDisplay, opts: { password?: string; viewOnly?: boolean; input?: InputSink } = {}): Promise<Harness> {
  const h: Harness = { server: undefined as unknown as Server, port: 0, display, sessions: [], serverSockets: [], logs: [], closeReasons: [] };
  h.server = createServer((socket) => {
    h.serverSockets.push(socket);
    const session = new ClientSession(socket, display, {
      password: opts.password,
      viewOnly: opts.viewOnly ?? false,
      input: opts.input,
      log: (m) => h.logs.push(m),
    });
    session.on('close', (reason: string) => h.closeReasons.push(reason));
    h.sessions.push(session);
  });
  await new Promise<void>((r) => h.server.listen(0, '127.0.0.1', r));
  h.port = (h.server.address() as { port: number }).port;
  harness = h;
  return h;
}

async function client(h: Harness): Promise<TestClient> {
  const c = await TestClient.connect(h.port);
  clients.push(c);
  return c;
}

/** Resolves when the display is next asked for a frame (the session is waiting for damage). */
const nextWant = (d: FakeDisplay) => new Promise<void>((r) => d.once('want', () => r()));

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  if (harness) {
    for (const s of harness.sessions) s.close('test over');
    await new Promise((r) => harness!.server.close(r));
    harness = undefined;
  }
});

describe('ClientSession updates', () => {
  it('answers a full update request with the surface pixels (Raw)', async () => {
    const d = new FakeDisplay(100, 70);
    d.fillPattern(3);
    const h = await serve(d);
    const c = await client(h);
    expect(await c.handshake()).toEqual({ width: 100, height: 70, name: 'fake display' });
    c.setEncodings([RAW]);
    c.request(false);
    const rects = await c.readUpdate();
    const fb = Buffer.alloc(100 * 70 * 4, 0xee);
    for (const r of rects) {
      expect(r.encoding).toBe(RAW);
      for (let y = 0; y < r.h; y++) r.data!.copy(fb, ((r.y + y) * 100 + r.x) * 4, y * r.w * 4, (y + 1) * r.w * 4);
    }
    expect(fb.equals(d.surface.data)).toBe(true);
  });

  it('translates to the pixel format the client set (RGB565 little-endian)', async () => {
    const d = new FakeDisplay(40, 20);
    d.fillPattern(9);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.send([0, 0, 0, 0, 16, 16, 0, 1, ...u16(31), ...u16(63), ...u16(31), 11, 5, 0, 0, 0, 0]);
    c.bytesPerPixel = 2;
    c.setEncodings([RAW]);
    c.request(false, { x: 5, y: 3, w: 10, h: 4 });
    const rects = await c.readUpdate();
    for (const r of rects) {
      expect(r.x >= 5 && r.y >= 3 && r.x + r.w <= 15 && r.y + r.h <= 7).toBe(true);
      for (let y = 0; y < r.h; y++)
        for (let x = 0; x < r.w; x++) {
          const o = ((r.y + y) * 40 + r.x + x) * 4;
          const [b, g, red] = [d.surface.data[o]!, d.surface.data[o + 1]!, d.surface.data[o + 2]!];
          expect(r.data!.readUInt16LE((y * r.w + x) * 2)).toBe(((red >> 3) << 11) | ((g >> 2) << 5) | (b >> 3));
        }
    }
    expect(tilesOf(d, rects)).toEqual(tilesOf(d, [{ x: 5, y: 3, w: 10, h: 4 }]));
  });

  it('sends exactly the damaged tiles in an incremental update', async () => {
    const d = new FakeDisplay(128, 96, 16);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings([RAW]);
    c.request(false);
    await c.readUpdate();
    const waiting = nextWant(d);
    c.request(true);
    await waiting; // request outstanding, nothing pending
    // two changes captured together: one damage bitmap
    const painted = { x: 20, y: 5, w: 30, h: 30 }, dot = { x: 100, y: 80, w: 3, h: 3 };
    d.fill(painted, 200, 100, 50);
    d.fill(dot, 1, 2, 3);
    const damage = d.grid.newBitmap();
    d.grid.markRect(damage, painted);
    d.grid.markRect(damage, dot);
    d.emit('damage', damage);
    const rects = await c.readUpdate();
    expect(tilesOf(d, rects)).toEqual(tilesOf(d, [{ x: 16, y: 0, w: 48, h: 48 }, { x: 96, y: 80, w: 16, h: 16 }]));
    for (const r of rects) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
    // the painted colour arrived as B,G,R,0
    const first = rects.find((r) => r.x <= 20 && r.y <= 5 && r.x + r.w > 20 && r.y + r.h > 5)!;
    const o = ((5 - first.y) * first.w + (20 - first.x)) * 4;
    expect([...first.data!.subarray(o, o + 4)]).toEqual([50, 100, 200, 0]);
  });

  it('coalesces damage that arrives while no request is outstanding', async () => {
    const d = new FakeDisplay(64, 64, 16);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings([RAW]);
    c.request(false);
    await c.readUpdate();
    d.paint({ x: 0, y: 0, w: 4, h: 4 }, 10, 10, 10);
    d.paint({ x: 0, y: 0, w: 4, h: 4 }, 20, 20, 20);
    d.paint({ x: 50, y: 50, w: 4, h: 4 }, 30, 30, 30);
    c.request(true);
    const rects = await c.readUpdate();
    expect(tilesOf(d, rects)).toEqual(tilesOf(d, [{ x: 0, y: 0, w: 16, h: 16 }, { x: 48, y: 48, w: 16, h: 16 }]));
    for (const r of rects) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
  });

  it('answers a request entirely outside the framebuffer with an empty update', async () => {
    const d = new FakeDisplay(64, 48);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.request(false, { x: 500, y: 500, w: 10, h: 10 });
    expect(await c.readUpdate()).toEqual([]);
    c.request(false, { x: 60, y: 40, w: 1000, h: 1000 }); // partly outside: cropped
    const rects = await c.readUpdate();
    expect(rects.map(({ x, y, w, h: hh }) => ({ x, y, w, h: hh }))).toEqual([{ x: 60, y: 40, w: 4, h: 8 }]);
  });

  it('uses the first encoding of the client list that it supports', async () => {
    const d = new FakeDisplay(32, 32);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings([99, 1234, HEXTILE, RAW]);
    c.request(false);
    const rects = await c.readUpdate();
    expect(rects[0]!.encoding).toBe(HEXTILE);
    expect(h.logs).toContain('encoding Hextile');
  });
});

describe('ClientSession with more rectangles than one update can count', () => {
  // 1-pixel tiles, every other one damaged: 66 000 rectangles (the count field holds 65 535)
  async function checkerboard(encodings: number[]) {
    const d = new FakeDisplay(264, 500, 1);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings(encodings);
    c.request(false);
    await c.readUpdate();
    const waiting = nextWant(d);
    c.request(true);
    await waiting;
    d.fillPattern(4);
    const damage = d.grid.newBitmap();
    for (let i = 0; i < damage.length; i++) damage[i] = (i + Math.floor(i / 264)) & 1;
    d.emit('damage', damage);
    return { d, c, expectedTiles: damage.reduce((n, v) => n + v, 0) };
  }

  it('uses LastRect when the client supports it', async () => {
    const { d, c, expectedTiles } = await checkerboard([RAW, LAST_RECT]);
    const rects = await c.readUpdate();
    expect(rects.length).toBe(expectedTiles + 1);
    expect(rects.at(-1)!.encoding).toBe(LAST_RECT);
    for (const r of rects.slice(0, -1)) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
  });

  it('splits into several updates otherwise', async () => {
    const { d, c, expectedTiles } = await checkerboard([RAW]);
    const first = await c.readUpdate();
    const second = await c.readUpdate();
    expect(first.length + second.length).toBe(expectedTiles);
    expect(first.length).toBeLessThan(0xffff);
    for (const r of [...first, ...second]) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
  });
});

describe('ClientSession resize', () => {
  async function resized(encodings: number[]) {
    const d = new FakeDisplay(64, 48);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings(encodings);
    c.request(false);
    await c.readUpdate();
    const waiting = nextWant(d);
    c.request(true);
    await waiting;
    d.resize(80, 60);
    d.fillPattern(1);
    return { d, h, c };
  }

  it('sends DesktopSize alone, then the whole new surface', async () => {
    const { d, c } = await resized([RAW, DESKTOP_SIZE]);
    expect(await c.readUpdate()).toEqual([{ x: 0, y: 0, w: 80, h: 60, encoding: DESKTOP_SIZE }]);
    c.request(true); // even incremental: everything is new
    const rects = await c.readUpdate();
    expect(tilesOf(d, rects)).toEqual(tilesOf(d, [{ x: 0, y: 0, w: 80, h: 60 }]));
    for (const r of rects) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
  });

  it('sends ExtendedDesktopSize (reason server, status ok, one screen) when the client has it', async () => {
    const { c } = await resized([RAW, DESKTOP_SIZE, EXT_DESKTOP_SIZE]);
    const rects = await c.readUpdate();
    expect(rects).toEqual([{ x: 0, y: 0, w: 80, h: 60, encoding: EXT_DESKTOP_SIZE, screens: [{ id: 1, x: 0, y: 0, w: 80, h: 60 }] }]);
  });

  it('disconnects a client that cannot follow a resize, with a reason', async () => {
    const { h, c } = await resized([RAW]);
    await c.closedByServer();
    expect(h.closeReasons).toEqual(['client does not support DesktopSize; cannot follow the mode change to 80x60']);
  });

  it('answers non-incremental requests and SetDesktopSize of an ExtendedDesktopSize client', async () => {
    const d = new FakeDisplay(64, 48);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings([RAW, EXT_DESKTOP_SIZE]);
    c.request(false, { x: 0, y: 0, w: 16, h: 16 });
    const rects = await c.readUpdate();
    expect(rects[0]).toEqual({ x: 0, y: 0, w: 64, h: 48, encoding: EXT_DESKTOP_SIZE, screens: [{ id: 1, x: 0, y: 0, w: 64, h: 48 }] });
    expect(rects.slice(1).map((r) => r.encoding)).toEqual([RAW]);
    // SetDesktopSize: the guest owns its mode, so "prohibited" (reason 1 = this client, status 1)
    c.send([251, 0, ...u16(800), ...u16(600), 1, 0, ...u32(0), ...u16(0), ...u16(0), ...u16(800), ...u16(600), ...u32(0)]);
    const answer = await c.readUpdate();
    expect(answer.map(({ x, y, encoding }) => ({ x, y, encoding }))).toEqual([{ x: 1, y: 1, encoding: EXT_DESKTOP_SIZE }]);
  });
});

describe('ClientSession flow control', () => {
  it('a client that stops reading does not make the server buffer without bound', async () => {
    const d = new FakeDisplay(640, 480, 32); // 1.2 MB per Raw frame
    const frameBytes = 640 * 480 * 4;
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings([RAW]);
    c.socket.pause(); // stops reading; the server's writes back up
    let maxQueued = 0;
    for (let i = 0; i < 60; i++) {
      d.fill({ x: 0, y: 0, w: 640, h: 480 }, i, 255 - i, i * 3);
      d.damageAll();
      c.request(i > 0);
      await new Promise((r) => setTimeout(r, 5));
      maxQueued = Math.max(maxQueued, h.serverSockets[0]!.writableLength);
    }
    // At most one update beyond the high-water mark (60 queued frames would be 70 MB).
    expect(maxQueued).toBeLessThanOrEqual(HIGH_WATER + frameBytes + 4096);
    expect(maxQueued).toBeGreaterThan(HIGH_WATER); // it really did back up
    // Once the client reads again, it catches up to the latest picture.
    c.socket.resume();
    const last = [59, 255 - 59, 59 * 3];
    for (;;) {
      const rects = await c.readUpdate();
      const got = rects.flatMap((r) => [r.data![2]!, r.data![1]!, r.data![0]!]);
      if (rects.length && got.every((v, k) => v === last[k % 3])) break;
      c.request(true);
    }
  });
});

describe('ClientSession isolation and errors', () => {
  it('a bad SetPixelFormat disconnects only that client; another keeps getting updates', async () => {
    const d = new FakeDisplay(64, 48);
    const h = await serve(d);
    const bad = await client(h);
    const good = await client(h);
    await bad.handshake();
    await good.handshake();
    good.setEncodings([RAW]);
    good.request(false);
    await good.readUpdate();
    // bpp 24 is not a valid RFB pixel size
    bad.send([0, 0, 0, 0, 24, 24, 0, 1, ...u16(255), ...u16(255), ...u16(255), 16, 8, 0, 0, 0, 0]);
    await bad.closedByServer();
    expect(h.closeReasons).toEqual(['SetPixelFormat refused: bits-per-pixel 24 is not 8, 16 or 32']);
    good.request(true);
    d.paint({ x: 1, y: 1, w: 2, h: 2 }, 9, 8, 7);
    const rects = await good.readUpdate();
    expect(rects.length).toBeGreaterThan(0);
    for (const r of rects) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
  });

  it('an unknown message closes that session with a one-line reason', async () => {
    const d = new FakeDisplay(32, 32);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.send([77, 1, 2, 3]);
    await c.closedByServer();
    expect(h.closeReasons).toEqual(['unknown client message type 77']);
  });

  it('garbage instead of a ProtocolVersion closes with a reason', async () => {
    const d = new FakeDisplay(32, 32);
    const h = await serve(d);
    const c = await client(h);
    await c.read(12);
    c.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await c.closedByServer();
    expect(h.closeReasons).toEqual(['not an RFB ProtocolVersion: "GET / HTTP/1"']);
  });

  it('emits shared with the ClientInit flag', async () => {
    const d = new FakeDisplay(32, 32);
    const h = await serve(d);
    const shared = new Promise<boolean>((r) => {
      const check = () => (h.sessions[0] ? h.sessions[0].once('shared', r) : setImmediate(check));
      check();
    });
    const c = await client(h);
    await c.handshake(false);
    expect(await shared).toBe(false);
  });
});

describe('ClientSession input', () => {
  function recorder() {
    const events: unknown[] = [];
    const input: InputSink = {
      key: (down, keysym, scancode) => events.push(['key', down, keysym, scancode]),
      pointer: (mask, x, y) => events.push(['pointer', mask, x, y]),
    };
    return { events, input };
  }

  it('forwards keys, QEMU extended keys and pointer events', async () => {
    const d = new FakeDisplay(32, 32);
    const { events, input } = recorder();
    const h = await serve(d, { input });
    const c = await client(h);
    await c.handshake();
    c.setEncodings([RAW, QEMU_KEY]);
    c.request(false, { x: 0, y: 0, w: 1, h: 1 });
    // the QEMU extended key event extension is confirmed with an empty -258 rectangle
    expect((await c.readUpdate()).map((r) => r.encoding)).toEqual([QEMU_KEY, RAW]);
    c.send([4, 1, 0, 0, ...u32(0x61)]);
    c.send([255, 0, ...u16(0), ...u32(0xff53), ...u32(0xcd)]);
    c.send([5, 3, ...u16(10), ...u16(20)]);
    // a fence round trip proves the messages before it were handled
    c.send([248, 0, 0, 0, ...u32(0x80000000), 1, 42]);
    expect(await c.readMessage()).toEqual({ type: 'fence', flags: 0, payload: Buffer.from([42]) });
    expect(events).toEqual([['key', true, 0x61, undefined], ['key', false, 0xff53, 0xcd], ['pointer', 3, 10, 20]]);
  });

  it('drops input when view-only, logging it once', async () => {
    const d = new FakeDisplay(32, 32);
    const { events, input } = recorder();
    const h = await serve(d, { input, viewOnly: true });
    const c = await client(h);
    await c.handshake();
    c.send([4, 1, 0, 0, ...u32(0x61)]);
    c.send([5, 1, ...u16(1), ...u16(1)]);
    c.send([248, 0, 0, 0, ...u32(0x80000000), 0]);
    await c.readMessage();
    expect(events).toEqual([]);
    expect(h.logs.filter((l) => l.startsWith('view-only'))).toHaveLength(1);
  });
});

/** A client that took Raw, Fence and ContinuousUpdates, past the server's fence and its confirmation of ContinuousUpdates. */
async function continuousUpdatesClient(d: FakeDisplay): Promise<{ h: Harness; c: TestClient }> {
  const h = await serve(d);
  const c = await client(h);
  await c.handshake();
  c.setEncodings([RAW, FENCE, CONTINUOUS]);
  expect((await c.readMessage()).type).toBe('fence');
  expect(await c.readMessage()).toEqual({ type: 'endOfContinuousUpdates' }); // confirms support
  return { h, c };
}

describe('ClientSession Fence and ContinuousUpdates', () => {
  it('echoes a fence with the request bit cleared; SyncNext waits for the next message', async () => {
    const d = new FakeDisplay(32, 32);
    const h = await serve(d);
    const c = await client(h);
    await c.handshake();
    c.setEncodings([RAW, FENCE]);
    // confirmation of Fence support: a fence request from the server
    expect(await c.readMessage()).toEqual({ type: 'fence', flags: 0x80000000, payload: Buffer.alloc(0) });
    c.send([248, 0, 0, 0, ...u32(0x80000000 | 0x7 | 0x100), 2, 1, 2]); // unknown bit 8 is cleared
    // SyncNext: the answer is sent once the next message (this update request) has taken
    // effect, and before anything that message causes (the update)
    c.request(false, { x: 0, y: 0, w: 8, h: 8 });
    expect(await c.readMessage()).toEqual({ type: 'fence', flags: 0x7, payload: Buffer.from([1, 2]) });
    expect((await c.readMessage()).type).toBe('update');
    expect(h.closeReasons).toEqual([]);
  });

  it('continuous updates push damage without requests; disabling sends EndOfContinuousUpdates', async () => {
    const d = new FakeDisplay(64, 64, 16);
    const { h, c } = await continuousUpdatesClient(d);
    c.send([248, 0, 0, 0, ...u32(0), 0]); // the client's answer to our fence: ignored
    const waiting = nextWant(d);
    c.send([150, 1, ...u16(0), ...u16(0), ...u16(64), ...u16(64)]);
    await waiting;
    for (const colour of [10, 20, 30]) {
      d.paint({ x: 40, y: 40, w: 2, h: 2 }, colour, colour, colour);
      const rects = await c.readUpdate();
      expect(tilesOf(d, rects)).toEqual(['2,2']);
      expect(rects[0]!.data!.equals(surfaceRect(d, rects[0]!))).toBe(true);
    }
    c.send([150, 0, ...u16(0), ...u16(0), ...u16(64), ...u16(64)]);
    expect(await c.readMessage()).toEqual({ type: 'endOfContinuousUpdates' });
    expect(h.closeReasons).toEqual([]);
  });
});

describe('ClientSession continuous updates over an area that cuts tiles', () => {
  it('sends the inside part of a tile once, not again until new damage (no update loop)', async () => {
    const d = new FakeDisplay(64, 64, 16);
    const { h, c } = await continuousUpdatesClient(d);
    const waiting = nextWant(d);
    // 5..45 × 5..45: every tile along its edges is only partly inside.
    c.send([150, 1, ...u16(5), ...u16(5), ...u16(40), ...u16(40)]);
    await waiting;
    d.paint({ x: 40, y: 40, w: 10, h: 10 }, 90, 80, 70); // straddles the area's corner
    const rects = await c.readUpdate();
    expect(rects.map((r) => [r.x, r.y, r.w, r.h])).toEqual([[32, 32, 13, 13]]); // tile (2, 2) within the area
    expect(rects[0]!.data!.equals(surfaceRect(d, rects[0]!))).toBe(true);
    // Nothing changed since: the next message must be the answer to this fence, not an update.
    c.send([248, 0, 0, 0, ...u32(0x80000000), 1, 42]);
    expect(await c.readMessage()).toEqual({ type: 'fence', flags: 0, payload: Buffer.from([42]) });
    // New damage in the same tile: its inside part goes again.
    d.paint({ x: 41, y: 41, w: 2, h: 2 }, 1, 2, 3);
    const again = await c.readUpdate();
    expect(again.length).toBeGreaterThan(0);
    for (const r of again) expect(r.data!.equals(surfaceRect(d, r))).toBe(true);
    expect(h.closeReasons).toEqual([]);
  });
});

describe('ClientSession with the rfb2 client', () => {
  type Rfb2Client = import('node:events').EventEmitter & { end(): void; width: number; height: number };
  const rfb2 = require('rfb2') as { createConnection(o: object): Rfb2Client };

  it('authenticates with VNC authentication and receives the pixels with Raw', async () => {
    const d = new FakeDisplay(48, 32);
    d.fillPattern(5);
    const h = await serve(d, { password: 'sesame' });
    const r = rfb2.createConnection({ host: '127.0.0.1', port: h.port, password: 'sesame', encodings: [RAW] });
    try {
      const fb = Buffer.alloc(48 * 32 * 4, 0xee);
      let covered = 0;
      await new Promise<void>((resolve, reject) => {
        r.on('error', (e: unknown) => reject(new Error(String(e))));
        r.on('rect', (rect: { x: number; y: number; width: number; height: number; encoding: number; data: Buffer }) => {
          expect(rect.encoding).toBe(RAW);
          for (let y = 0; y < rect.height; y++)
            rect.data.copy(fb, ((rect.y + y) * 48 + rect.x) * 4, y * rect.width * 4, (y + 1) * rect.width * 4);
          covered += rect.width * rect.height;
          if (covered >= 48 * 32) resolve();
        });
      });
      expect(fb.equals(d.surface.data)).toBe(true);
      expect(h.logs).toContain('RFB 3.8, VNC authentication, shared');
    } finally {
      r.end();
    }
  });

  it('refuses rfb2 with a wrong password, telling it why', async () => {
    const d = new FakeDisplay(16, 16);
    const h = await serve(d, { password: 'sesame' });
    const r = rfb2.createConnection({ host: '127.0.0.1', port: h.port, password: 'open up' });
    try {
      const err = await new Promise<unknown>((resolve) => r.on('error', resolve));
      expect(String(err)).toBe('authentication failed');
      expect(h.closeReasons).toEqual(['authentication failed']);
    } finally {
      r.end();
    }
  });
});
