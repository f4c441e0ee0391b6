// Cursor pseudo-encodings, compositing, the VFIO cursor plane reader, and the session's cursor and
// SetDesktopSize handling seen from a hand-written client that decodes by rfbproto (Raw, Cursor
// With Alpha, ExtendedDesktopSize), not by our writers.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { alphaCursorRect, compositeRect, cursorBounds, cursorRect } from '../../src/rfb/encodings/cursor.js';
import { SERVER_PIXEL_FORMAT } from '../../src/rfb/pixel-format.js';
import type { CursorImage, CursorState, ResizeAnswer } from '../../src/server/display.js';
import { ClientSession } from '../../src/server/session.js';
import { VfioCursorReader } from '../../src/source/cursor.js';
import { RfbConnection } from '../helpers/decoding-client.js';
import { FakeDisplay } from '../helpers/fake-display.js';
import { handshakeNone } from '../helpers/rfb-handshake.js';
import { CursorDevice, opaqueCursor } from '../integration/cursor-device.js';

/** A 3x2 image: opaque red, half-transparent green (premultiplied 0x80), transparent; opaque blue, opaque white, alpha 0x40 grey. */
function sample(): CursorImage {
  // bytes B,G,R,A
  const px = [0, 0, 255, 255, 0, 0x80, 0, 0x80, 0, 0, 0, 0, 255, 0, 0, 255, 255, 255, 255, 255, 0x20, 0x20, 0x20, 0x40];
  return { width: 3, height: 2, hotX: 2, hotY: 1, pixels: Buffer.from(px) };
}

describe('cursor rectangles', () => {
  it('Cursor (-239): hotspot in x/y, pixels in the client format, mask MSB first with alpha >= 128', () => {
    const [header, body, mask] = cursorRect(sample(), SERVER_PIXEL_FORMAT);
    expect([header!.readUInt16BE(0), header!.readUInt16BE(2), header!.readUInt16BE(4), header!.readUInt16BE(6), header!.readInt32BE(8)]).toEqual([2, 1, 3, 2, -239]);
    // Server format: 32 bpp little-endian, red shift 16: bytes B,G,R,X. Colours un-premultiplied.
    expect(body!.length).toBe(3 * 2 * 4);
    expect([...body!.subarray(0, 3)]).toEqual([0, 0, 255]);
    expect([...body!.subarray(4, 7)]).toEqual([0, 255, 0]); // 0x80 * 255 / 0x80
    expect([...body!.subarray(12, 15)]).toEqual([255, 0, 0]);
    expect([...body!.subarray(20, 23)]).toEqual([0x80, 0x80, 0x80]); // 0x20 * 255 / 0x40 = 127.5
    expect([...mask!]).toEqual([0b11000000, 0b11000000]); // one byte per row of 3
  });

  it('Cursor With Alpha (-314): encoding Raw, then premultiplied B,G,R,A words unchanged', () => {
    const parts = Buffer.concat(alphaCursorRect(sample()));
    expect(parts.readInt32BE(8)).toBe(-314);
    expect([parts.readUInt16BE(0), parts.readUInt16BE(2), parts.readUInt16BE(4), parts.readUInt16BE(6)]).toEqual([2, 1, 3, 2]);
    expect(parts.readInt32BE(12)).toBe(0);
    expect(parts.subarray(16).equals(sample().pixels)).toBe(true);
  });

  it('a hidden cursor is a 1x1 fully transparent shape', () => {
    const [header, , mask] = cursorRect(undefined, SERVER_PIXEL_FORMAT);
    expect([header!.readUInt16BE(4), header!.readUInt16BE(6)]).toEqual([1, 1]);
    expect([...mask!]).toEqual([0]);
    const alpha = Buffer.concat(alphaCursorRect(undefined));
    expect(alpha.readUInt32LE(16)).toBe(0);
  });
});

describe('compositing', () => {
  it('blends premultiplied "over" into a copy, clipped to the rect, the surface untouched', () => {
    const width = 8, height = 4;
    const data = Buffer.alloc(width * height * 4, 100);
    const surface = { data, width, height };
    const target = Buffer.alloc(data.length);
    const state: CursorState = { image: sample(), x: 6, y: 3 }; // partly off the right and bottom edges
    expect(cursorBounds(state, width, height)).toEqual({ x: 6, y: 3, w: 2, h: 1 });
    compositeRect(surface, target, { x: 0, y: 0, w: 8, h: 4 }, state);
    expect(data.every((b) => b === 100)).toBe(true);
    const at = (x: number, y: number) => [...target.subarray((y * width + x) * 4, (y * width + x) * 4 + 3)];
    expect(at(6, 3)).toEqual([0, 0, 255]); // opaque red replaces
    // half green: 0x80 + 100 * (255 - 0x80) / 255
    const g = 0x80 + Math.round((100 * 127) / 255), rest = Math.round((100 * 127) / 255);
    expect(at(7, 3)).toEqual([rest, g, rest]);
    expect(at(5, 3)).toEqual([100, 100, 100]);
    expect(at(6, 2)).toEqual([100, 100, 100]);
  });

  it('a cursor wholly off the surface has no bounds', () => {
    expect(cursorBounds({ image: sample(), x: -3, y: 0 }, 8, 4)).toBeUndefined();
    expect(cursorBounds({ image: undefined, x: 0, y: 0 }, 8, 4)).toBeUndefined();
  });
});

describe('VfioCursorReader', () => {
  const devices: CursorDevice[] = [];
  afterAll(() => devices.forEach((d) => d.close()));
  function reader(primaryId = 'dmabuf 1') {
    const device = new CursorDevice(64, 32, Buffer.alloc(64 * 32 * 4));
    devices.push(device);
    const logs: string[] = [];
    return { device, logs, r: new VfioCursorReader(device, 'dmabuf', (m) => logs.push(m), () => primaryId) };
  }

  it('reads the image, position (signed) and hotspot; 0xFFFFFFFF means none', () => {
    const { device, r } = reader();
    const pixels = opaqueCursor(8, 4, 0x123456);
    device.setCursor({ width: 8, height: 4, pixels, x: -2, y: 7, hotX: 0xffffffff, hotY: 0xffffffff, id: 5 });
    const s = r.read()!;
    expect([s.x, s.y, s.image!.hotX, s.image!.hotY, s.image!.width, s.image!.height]).toEqual([-2, 7, 0, 0, 8, 4]);
    expect(s.image!.pixels.equals(pixels)).toBe(true);
    device.setCursor(undefined);
    expect(r.read()).toEqual({ image: undefined, x: 0, y: 0 });
  });

  it('a plane that was never enabled is no cursor (mbochs answers every cursor query "disabled")', () => {
    const { device, r } = reader();
    expect(r.read()).toBeUndefined();
    expect(r.read()).toBeUndefined();
    device.setCursor({ width: 4, height: 4, pixels: opaqueCursor(4, 4, 0xffffff), x: 1, y: 1, hotX: 0, hotY: 0, id: 6 });
    expect(r.read()!.image!.width).toBe(4);
    device.setCursor(undefined);
    expect(r.read()).toEqual({ image: undefined, x: 0, y: 0 }); // shown once: now hidden
  });

  it('a driver answering with its primary plane (mdpy) or a screen-sized plane has no cursor; asked no more', () => {
    const { device, logs, r } = reader();
    device.cursorOverride = { ok: true, drmFormat: 0x34325258, modifier: 0n, width: 64, height: 32, stride: 256, size: 8192, xPos: 0, yPos: 0, xHot: 0, yHot: 0, dmabufId: 1 };
    expect(r.read()).toBeUndefined();
    expect(r.read()).toBeUndefined();
    expect(device.cursorQueries).toBe(1);
    expect(logs[0]).toMatch(/answers with the primary plane/);
    const big = reader();
    big.device.cursorOverride = { ok: true, drmFormat: 0x34325241, modifier: 0n, width: 1024, height: 768, stride: 4096, size: 4096 * 768, xPos: 0, yPos: 0, xHot: 0, yHot: 0, dmabufId: 9 };
    expect(big.r.read()).toBeUndefined();
    expect(big.logs[0]).toMatch(/too large for a cursor/);
  });

  it('EINVAL from the cursor query: no cursor plane; a bad format shows none, logged once', () => {
    const a = reader();
    a.device.cursorOverride = { ok: false, code: 'EINVAL', message: 'Invalid argument' };
    expect(a.r.read()).toBeUndefined();
    const b = reader();
    b.device.cursorOverride = { ok: true, drmFormat: 0x36314752, modifier: 0n, width: 16, height: 16, stride: 32, size: 512, xPos: 0, yPos: 0, xHot: 0, yHot: 0, dmabufId: 9 };
    expect(b.r.read()).toBeUndefined(); // never shown: the clients keep their own pointer
    expect(b.r.read()).toBeUndefined();
    expect(b.logs.filter((l) => /cursor format .* is not supported/.test(l))).toHaveLength(1);
  });
});

// ---- session: a minimal rfbproto client ----
class Client extends RfbConnection {
  async handshake(encodings: number[]): Promise<void> {
    await handshakeNone(this);
    const e = Buffer.alloc(4 + 4 * encodings.length);
    e[0] = 2;
    e.writeUInt16BE(encodings.length, 2);
    encodings.forEach((v, i) => e.writeInt32BE(v, 4 + 4 * i));
    this.send([...e]);
  }
  request(incremental: boolean, w: number, h: number): void {
    this.send([3, incremental ? 1 : 0, 0, 0, 0, 0, w >> 8, w & 255, h >> 8, h & 255]);
  }
  /** One FramebufferUpdate; Raw at 32 bpp, alpha cursor (Raw inside), ExtendedDesktopSize. */
  async update(): Promise<Array<{ x: number; y: number; w: number; h: number; encoding: number; data?: Buffer }>> {
    const head = await this.read(4);
    expect(head[0]).toBe(0);
    const rects = [];
    for (let i = 0; i < head.readUInt16BE(2); i++) {
      const r = await this.read(12);
      const rect = { x: r.readUInt16BE(0), y: r.readUInt16BE(2), w: r.readUInt16BE(4), h: r.readUInt16BE(6), encoding: r.readInt32BE(8), data: undefined as Buffer | undefined };
      if (rect.encoding === 0) rect.data = Buffer.from(await this.read(rect.w * rect.h * 4));
      else if (rect.encoding === -314) {
        expect((await this.read(4)).readInt32BE(0)).toBe(0);
        rect.data = Buffer.from(await this.read(rect.w * rect.h * 4));
      } else if (rect.encoding === -308) {
        const n = (await this.read(4))[0]!;
        await this.read(16 * n);
      } else throw new Error(`unexpected encoding ${rect.encoding}`);
      rects.push(rect);
    }
    return rects;
  }
  setDesktopSize(w: number, h: number, screens: Array<[number, number, number, number]>): void {
    const b = Buffer.alloc(8 + 16 * screens.length);
    b[0] = 251;
    b.writeUInt16BE(w, 2);
    b.writeUInt16BE(h, 4);
    b[6] = screens.length;
    screens.forEach(([x, y, sw, sh], i) => {
      b.writeUInt32BE(i + 1, 8 + 16 * i);
      b.writeUInt16BE(x, 12 + 16 * i);
      b.writeUInt16BE(y, 14 + 16 * i);
      b.writeUInt16BE(sw, 16 + 16 * i);
      b.writeUInt16BE(sh, 18 + 16 * i);
    });
    this.send([...b]);
  }
}

class CursorDisplay extends FakeDisplay {
  cursor: CursorState | undefined;
  requestResize?: (w: number, h: number) => ResizeAnswer;
  setCursor(state: CursorState, shapeChanged: boolean): void {
    this.cursor = state;
    this.emit('cursor', state, shapeChanged);
  }
}

describe('session', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });
  async function start(display: CursorDisplay): Promise<{ client: Client; logs: string[] }> {
    const logs: string[] = [];
    server = createServer((s) => new ClientSession(s, display, { viewOnly: true, log: (m) => logs.push(m) }));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const socket = await new Promise<Socket>((r) => {
      const s = connect(port, '127.0.0.1', () => r(s));
    });
    sockets.push(socket);
    return { client: new Client(socket), logs };
  }

  it('alpha cursor client: the shape on the first update and on each shape change, none for a move', async () => {
    const d = new CursorDisplay(32, 16);
    d.cursor = { image: sample(), x: 4, y: 4 };
    const { client } = await start(d);
    await client.handshake([0, -314]);
    client.request(false, 32, 16);
    const first = await client.update();
    const shape = first.find((r) => r.encoding === -314)!;
    expect([shape.x, shape.y, shape.w, shape.h]).toEqual([2, 1, 3, 2]);
    expect(shape.data!.equals(sample().pixels)).toBe(true);
    // The pixels it gets are the clean surface (the client draws the cursor itself).
    const raw = first.find((r) => r.encoding === 0)!;
    expect(raw.data!.equals(d.surface.data)).toBe(true);
    d.setCursor({ image: sample(), x: 10, y: 2 }, false); // a move: nothing owed
    const moved = { ...sample(), hotX: 0, hotY: 0 };
    d.setCursor({ image: moved, x: 10, y: 2 }, true);
    client.request(true, 32, 16);
    const next = await client.update();
    expect(next.map((r) => [r.encoding, r.x, r.y])).toEqual([[-314, 0, 0]]);
  });

  it('SetDesktopSize: 1 without a resizable display, 3 for an invalid layout, 4 when forwarded', async () => {
    const d = new CursorDisplay(32, 16);
    const asked: string[] = [];
    const { client } = await start(d);
    await client.handshake([0, -308]);
    client.request(false, 32, 16);
    await client.update();
    const answer = async () => {
      client.request(true, 32, 16);
      const rects = await client.update();
      const r = rects.find((x) => x.encoding === -308 && x.x === 1)!;
      return r.y;
    };
    client.setDesktopSize(64, 32, [[0, 0, 64, 32]]);
    expect(await answer()).toBe(1);
    d.requestResize = (w, h) => (asked.push(`${w}x${h}`), w > 100 ? 'invalid' : 'forwarded');
    client.setDesktopSize(64, 32, [[0, 0, 64, 32]]);
    expect(await answer()).toBe(4);
    client.setDesktopSize(64, 32, [[0, 0, 32, 32], [32, 0, 32, 32]]);
    expect(await answer()).toBe(3);
    client.setDesktopSize(200, 32, [[0, 0, 200, 32]]);
    expect(await answer()).toBe(3);
    expect(asked).toEqual(['64x32', '200x32']); // an invalid layout never reaches the display
  });
});
