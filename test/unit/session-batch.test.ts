// A session whose encoder works off the JS thread (BatchEncoder): the update goes out when the
// batch settles, the surface is held meanwhile, messages caused meanwhile keep their order, and
// damage that arrives meanwhile goes in the next update. The encoder here is Raw behind a
// deliberately slow promise, so every step of the session's asynchrony is exercised.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientSession } from '../../src/server/session.js';
import { FakeDisplay } from '../helpers/fake-display.js';
import { RawUpdateClient as Client } from '../helpers/raw-update-client.js';
import { RfbConnection, differences } from '../helpers/decoding-client.js';
import { handshakeNone } from '../helpers/rfb-handshake.js';
import { ClientFramebuffer, Reader } from '../decoders/index.js';
import { ZrleDecoder } from '../decoders/zrle.js';
import { SERVER_PIXEL_FORMAT } from '../../src/rfb/pixel-format.js';
import type { EncodedRects, Rect, SurfaceView } from '../../src/rfb/encodings/types.js';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';

const SLOW_ENCODING = 0; // Raw on the wire
let batchDelayMs = 60;
let batchesStarted = 0;

vi.mock('../../src/rfb/encodings/index.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/rfb/encodings/index.js')>();
  const { RawEncoder } = await import('../../src/rfb/encodings/raw.js');
  class SlowBatchRaw extends RawEncoder {
    async encodeBatch(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat): Promise<EncodedRects> {
      batchesStarted++;
      // Read the pixels only at the end, as a worker thread would while the batch runs.
      await new Promise((r) => setTimeout(r, batchDelayMs));
      return rects.map((r) => {
        const parts: Buffer[] = [];
        this.encode(surface, r, pf, parts);
        return parts;
      });
    }
  }
  return { ...orig, createEncoder: (e: number, o?: object) => (e === SLOW_ENCODING ? new SlowBatchRaw() : orig.createEncoder(e, o)) };
});

const FENCE = -312;

let server: Server | undefined;
const sessions: ClientSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close('test over');
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
  batchDelayMs = 60;
});

async function serve(d: FakeDisplay): Promise<Client> {
  server = createServer((socket) => sessions.push(new ClientSession(socket, d, { viewOnly: true, log: () => {} })));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const c = await Client.connect((server.address() as { port: number }).port);
  c.socket.setNoDelay(true); // the steps below time small messages; Nagle would hold them back
  await c.handshake();
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sameAsSurface = (c: Client, d: FakeDisplay) => {
  const s = d.surface.data;
  for (let i = 0; i < s.length; i += 4) if (s.readUIntLE(i, 3) !== c.fb.readUIntLE(i, 3)) return false;
  return true;
};

describe('ClientSession with an encoder that works off the JS thread', () => {
  it('holds the surface while encoding, and sends exactly its pixels', async () => {
    const d = new FakeDisplay(96, 64);
    d.fillPattern(3);
    const c = await serve(d);
    c.setEncodings([SLOW_ENCODING]);
    c.request(false);
    await sleep(20);
    expect(d.holds).toBe(1);
    const m = await c.next();
    expect(m.type).toBe('update');
    expect(d.holds).toBe(0);
    expect(sameAsSurface(c, d)).toBe(true);
  });

  it('a fence answer caused during the encoding follows that update on the wire', async () => {
    const d = new FakeDisplay(64, 32);
    d.fillPattern(1);
    const c = await serve(d);
    c.setEncodings([SLOW_ENCODING, FENCE]);
    expect((await c.next()).type).toBe('fence'); // the server's own confirmation fence
    c.request(false);
    await sleep(20);
    c.fence(0x80000000 | 1, [7, 8]); // Request | BlockBefore
    const first = await c.next();
    const second = await c.next();
    expect(first.type).toBe('update');
    expect(second).toEqual({ type: 'fence', payload: [7, 8] });
  });

  it('damage during the encoding goes in the next update; one batch at a time', async () => {
    const d = new FakeDisplay(128, 64, 16);
    d.fillPattern(2);
    const c = await serve(d);
    c.setEncodings([SLOW_ENCODING]);
    c.request(false);
    await sleep(20);
    const started = batchesStarted;
    // While the first batch runs: new pixels (a real display would wait for the hold; here
    // they change at once) and an incremental request from the client.
    d.paint({ x: 100, y: 40, w: 10, h: 10 }, 200, 10, 20);
    c.request(true);
    await sleep(10);
    expect(batchesStarted).toBe(started); // no second batch while the first runs
    await c.next();
    const second = await c.next();
    expect(second.type === 'update' && second.rects).toEqual([{ x: 96, y: 32, w: 16, h: 32 }]);
    expect(sameAsSurface(c, d)).toBe(true);
  });

  it('a client that leaves while its update is encoded releases the hold and nothing breaks', async () => {
    const d = new FakeDisplay(64, 64);
    const c = await serve(d);
    c.setEncodings([SLOW_ENCODING]);
    c.request(false);
    await sleep(20);
    expect(d.holds).toBe(1);
    c.close();
    await sleep(120);
    expect(d.holds).toBe(0);
    expect(sessions[0]!.isClosed).toBe(true);
  });

  it('an update overtaken by a mode change still goes out (old size), then the new size, then all of it', async () => {
    const d = new FakeDisplay(64, 64);
    d.fillPattern(4);
    const c = await serve(d);
    const DESKTOP_SIZE = -223;
    c.setEncodings([SLOW_ENCODING, DESKTOP_SIZE]);
    c.request(false);
    await sleep(20);
    const before = Buffer.from(d.surface.data);
    d.resize(80, 48);
    d.fillPattern(5);
    // The update encoded before the change: the old size's pixels (a stateful encoder's stream has them).
    const old = await c.next();
    expect(old.type).toBe('update');
    for (let i = 0; i < before.length; i += 4) expect(c.fb.readUIntLE(i, 3)).toBe(before.readUIntLE(i, 3));
    // Then the new size (a DesktopSize rect, no pixels).
    c.request(true);
    const type = (await c.read(1))[0];
    expect(type).toBe(0);
    const count = (await c.read(3)).readUInt16BE(1);
    expect(count).toBe(1);
    const h = await c.read(12);
    expect([h.readUInt16BE(4), h.readUInt16BE(6), h.readInt32BE(8)]).toEqual([80, 48, DESKTOP_SIZE]);
    c.width = 80;
    c.height = 48;
    c.fb = Buffer.alloc(80 * 48 * 4);
    c.request(true);
    await c.next();
    expect(sameAsSurface(c, d)).toBe(true);
  });
});

/** Reads Raw and ExtendedDesktopSize rects; sends SetDesktopSize. */
class LayoutClient extends Client {
  setDesktopSize(w: number, h: number): void {
    const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
    this.send([251, 0, ...u16(w), ...u16(h), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u16(w), ...u16(h), 0, 0, 0, 0]);
  }
  /** The next update's rects: ExtendedDesktopSize ones as {reason: x, status: y}. */
  async rects(): Promise<Array<{ encoding: number; x: number; y: number }>> {
    const head = await this.read(4);
    if (head[0] !== 0) throw new Error(`unexpected message ${head[0]}`);
    const out = [];
    for (let i = 0; i < head.readUInt16BE(2); i++) {
      const h = await this.read(12);
      const r = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6), encoding: h.readInt32BE(8) };
      if (r.encoding === 0) await this.read(r.w * r.h * 4);
      else if (r.encoding === -308) {
        await this.read(16 * (await this.read(4))[0]!);
        [this.width, this.height] = [r.w, r.h];
      } else throw new Error(`unexpected encoding ${r.encoding}`);
      out.push(r);
    }
    return out;
  }
}

describe('SetDesktopSize while an update is encoded and the mode changes', () => {
  it('the client still gets the answer to its request (reason 1) besides the server\'s new layout (reason 0)', async () => {
    const d = new FakeDisplay(64, 64);
    d.fillPattern(4);
    server = createServer((socket) => sessions.push(new ClientSession(socket, d, { viewOnly: true, log: () => {} })));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const c = await LayoutClient.connect((server.address() as { port: number }).port);
    c.socket.setNoDelay(true);
    await c.handshake();
    c.setEncodings([SLOW_ENCODING, -308]);
    c.request(false);
    await vi.waitFor(() => expect(d.holds).toBe(1), { interval: 1 }); // the batch is running
    c.setDesktopSize(100, 50);
    await sleep(10);
    d.resize(80, 48);
    const reasons: number[] = [];
    for (let i = 0; i < 3 && !reasons.includes(1); i++) {
      for (const r of await c.rects()) if (r.encoding === -308) reasons.push(r.x);
      c.request(true);
    }
    expect(reasons).toContain(1);
    expect(reasons.filter((r) => r === 0)).toHaveLength(1);
  });
});

/** Decodes ZRLE (one zlib stream for the connection) and DesktopSize, message by message. */
class ZrleClient extends RfbConnection {
  fb = new ClientFramebuffer(1, 1);
  private readonly zrle = new ZrleDecoder();
  async handshake(): Promise<void> {
    const { width, height } = await handshakeNone({ read: (n) => this.read(n), send: (b) => this.send(b) });
    this.fb = new ClientFramebuffer(width, height);
  }
  /** The encodings of the next update's rects. */
  async update(): Promise<number[]> {
    const head = await this.read(4);
    if (head[0] !== 0) throw new Error(`unexpected message ${head[0]}`);
    const encodings: number[] = [];
    for (let i = 0; i < head.readUInt16BE(2); i++) {
      const h = await this.read(12);
      const rect = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6), encoding: h.readInt32BE(8) };
      encodings.push(rect.encoding);
      if (rect.encoding === -223) {
        this.fb = new ClientFramebuffer(rect.w, rect.h);
        continue;
      }
      if (rect.encoding !== 16) throw new Error(`unexpected encoding ${rect.encoding}`);
      const length = await this.read(4);
      const data = await this.read(length.readUInt32BE(0));
      this.zrle.decode(new Reader(Buffer.concat([length, data])), rect, SERVER_PIXEL_FORMAT, this.fb);
    }
    return encodings;
  }
  request(incremental: boolean): void {
    const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
    this.send([3, incremental ? 1 : 0, 0, 0, 0, 0, ...u16(this.fb.width), ...u16(this.fb.height)]);
  }
}

describe('a mode change while a ZRLE update is encoded', () => {
  it('the client\'s zlib stream stays in step: old update, new size, then the whole new picture decode', async () => {
    const d = new FakeDisplay(1920, 1080, 32);
    d.fillPattern(6); // many colours: the native encode takes a while
    server = createServer((socket) => sessions.push(new ClientSession(socket, d, { viewOnly: true, log: () => {} })));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const c = await ZrleClient.connect((server.address() as { port: number }).port);
    await c.handshake();
    c.send([2, 0, 0, 2, ...[16, -223].flatMap((e) => [(e >>> 24) & 0xff, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff])]);
    c.request(false);
    await vi.waitFor(() => expect(d.holds).toBe(1), { interval: 1 }); // the batch is running
    d.resize(320, 200);
    d.fillPattern(7);
    expect(await c.update()).not.toContain(-223); // the update from before
    c.request(true);
    expect(await c.update()).toEqual([-223]);
    c.request(true);
    const last = await c.update();
    expect(last.every((e) => e === 16)).toBe(true);
    expect(differences(c, d)).toBe(0);
  });
});

describe('ZRLE takes the client\'s compression level as its zlib level (as TigerVNC)', () => {
  /** Bytes of ZRLE data (after the u32 length) in the answer to a full request, at compression `level`. */
  async function zrleBytes(level: number): Promise<number> {
    const d = new FakeDisplay(128, 64);
    // Every column its own colour: many colours per tile, and rows that repeat (deflate finds them).
    for (let x = 0; x < 128; x++) d.fill({ x, y: 0, w: 1, h: 64 }, x * 2, 255 - x, (x * 37) & 0xff);
    const c = await serve(d);
    c.setEncodings([16, -256 + level]);
    c.request(false);
    expect((await c.read(4))[0]).toBe(0);
    const h = await c.read(12);
    expect(h.readInt32BE(8)).toBe(16);
    const length = (await c.read(4)).readUInt32BE(0);
    await c.read(length);
    c.close();
    for (const s of sessions.splice(0)) s.close('done');
    await new Promise((r) => server!.close(r));
    server = undefined;
    return length;
  }

  it('level 0 stores the tiles, level 9 deflates them', async () => {
    const stored = await zrleBytes(0);
    const deflated = await zrleBytes(9);
    // Two 64×64 tiles of 64 colours each; stored, their tile bytes come through whole.
    expect(stored).toBeGreaterThan(2 * 64 * 64);
    expect(deflated).toBeLessThan(stored / 4);
  });
});
