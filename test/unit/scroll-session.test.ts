// ClientSession with scroll moves: a display announces damage plus moves (here the true moves of
// a scrolling window, so the session is tested apart from detection). CopyRect must go only to a
// client that advertised it and whose picture holds the source pixels; whatever is sent, the
// client's decoded picture must be the display's. Decoding uses test/decoders (rfbproto-based).
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientSession } from '../../src/server/session.js';
import type { CursorState, Move } from '../../src/server/display.js';
import { SERVER_PIXEL_FORMAT } from '../../src/rfb/pixel-format.js';
import { TestClient as Decoder, type ClientFramebuffer } from '../decoders/index.js';
import { decodeCopyRect } from '../decoders/raw.js';
import { DecodingClient, differences } from '../helpers/decoding-client.js';
import { FakeDisplay } from '../helpers/fake-display.js';
import { ScrollScene } from '../helpers/scroll-frames.js';

const RAW = 0, COPYRECT = 1, ZRLE = 16, TIGHT = 7, QUALITY_6 = -26;

interface Rect { x: number; y: number; w: number; h: number }
interface Update { rects: Array<Rect & { encoding: number }>; bytes: number }

/** 32 bpp client (the server's format) framing Raw / CopyRect / ZRLE rects and decoding them. */
class ScrollClient extends DecodingClient {
  decoder = new Decoder(1, 1, SERVER_PIXEL_FORMAT);

  get fb(): ClientFramebuffer {
    return this.decoder.fb;
  }

  protected resize(width: number, height: number): void {
    this.decoder = new Decoder(width, height, SERVER_PIXEL_FORMAT);
  }

  async update(): Promise<Update> {
    const head = await this.read(4);
    if (head[0] !== 0) throw new Error(`unexpected server message ${head[0]}`);
    const count = head.readUInt16BE(2);
    const rects: Update['rects'] = [];
    let bytes = 4;
    for (let i = 0; i < count; i++) {
      const header = Buffer.from(await this.read(12));
      const rect = { x: header.readUInt16BE(0), y: header.readUInt16BE(2), w: header.readUInt16BE(4), h: header.readUInt16BE(6), encoding: header.readInt32BE(8) };
      let body: Buffer;
      if (rect.encoding === RAW) body = Buffer.from(await this.read(rect.w * rect.h * 4));
      else if (rect.encoding === COPYRECT) body = Buffer.from(await this.read(4));
      else if (rect.encoding === ZRLE) {
        const len = Buffer.from(await this.read(4));
        body = Buffer.concat([len, await this.read(len.readUInt32BE(0))]);
      } else throw new Error(`unexpected encoding ${rect.encoding}`);
      this.decoder.decode([header, body], 1);
      bytes += 12 + body.length;
      rects.push(rect);
    }
    return { rects, bytes };
  }

  /** The next update of Tight and CopyRect rects (Tight has no length prefix: decode, retry when short). */
  tightUpdate(): Promise<Update & { jpeg: number }> {
    const snapshot = () => {
      const undoTight = this.decoder.tight.snapshot();
      const pixels = this.fb.pixels.slice();
      return () => {
        undoTight();
        this.fb.pixels.set(pixels);
      };
    };
    return this.decodeUpdate(snapshot, (r, count) => {
      const jpegBefore = this.decoder.tight.jpegRects.length;
      const rects: Update['rects'] = [];
      for (let i = count; i > 0; i--) {
        const rect = { x: r.u16(), y: r.u16(), w: r.u16(), h: r.u16(), encoding: r.s32() };
        if (rect.encoding === COPYRECT) decodeCopyRect(r, rect, this.fb);
        else if (rect.encoding === TIGHT) this.decoder.tight.decode(r, rect, SERVER_PIXEL_FORMAT, this.fb);
        else throw new Error(`unexpected encoding ${rect.encoding}`);
        rects.push(rect);
      }
      return { rects, bytes: r.off, jpeg: this.decoder.tight.jpegRects.length - jpegBefore };
    });
  }
}

const WIDTH = 320, HEIGHT = 256, TILE = 16;
const WINDOW = { x: 32, y: 40, w: 256, h: 192 };

/** Shows `frame` on the display and emits the damage of the tiles that changed, with `moves`. */
function show(d: FakeDisplay, frame: Buffer, moves: Move[]): Uint8Array {
  const old = d.surface.data;
  const bitmap = d.grid.newBitmap(0);
  for (let y = 0; y < HEIGHT; y++)
    for (let x = 0; x < WIDTH; x++) {
      const o = (y * WIDTH + x) * 4;
      if (old.readUInt32LE(o) !== frame.readUInt32LE(o)) bitmap[Math.floor(y / TILE) * d.grid.tilesX + Math.floor(x / TILE)] = 1;
    }
  frame.copy(old);
  d.emit('damage', bitmap, moves);
  return bitmap;
}

/** The true move of the window's content scrolling up by `dy`. */
function scrollMove(dy: number): Move {
  return dy > 0 ? { ...WINDOW, h: WINDOW.h - dy, dy } : { ...WINDOW, y: WINDOW.y - dy, h: WINDOW.h + dy, dy };
}

let server: Server | undefined;
const sessions: ClientSession[] = [];
const clients: ScrollClient[] = [];

async function serve(d: FakeDisplay, encodings: number[], losslessRefreshMs?: number): Promise<ScrollClient> {
  server = createServer((socket) => sessions.push(new ClientSession(socket, d, { viewOnly: true, log: () => {}, losslessRefreshMs })));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const c = await ScrollClient.connect((server.address() as { port: number }).port);
  clients.push(c);
  await c.handshake();
  c.setEncodings(encodings);
  if (encodings.includes(TIGHT)) return c;
  c.request(false);
  await c.update();
  if (!('cursor' in d)) expect(differences(c, d)).toBe(0); // (a drawn-in cursor is checked by its test)
  return c;
}

/** A smooth, many-coloured picture (JPEG material) in `r`, moving with `seed`. */
function paintSmooth(d: FakeDisplay, r: Rect, seed: number): void {
  const { data, width } = d.surface;
  for (let y = r.y; y < r.y + r.h; y++)
    for (let x = r.x; x < r.x + r.w; x++) {
      const o = (y * width + x) * 4;
      data[o] = Math.round(127 + 120 * Math.sin(x / 9));
      data[o + 1] = Math.round(127 + 120 * Math.cos((y + seed) / 7));
      data[o + 2] = Math.round(127 + 120 * Math.sin((x + y + seed) / 13));
      data[o + 3] = 0;
    }
}

function scene(seed = 1): { d: FakeDisplay; s: ScrollScene } {
  const d = new FakeDisplay(WIDTH, HEIGHT, TILE);
  const s = new ScrollScene(WIDTH, HEIGHT, WINDOW, seed);
  s.frame(0).copy(d.surface.data);
  return { d, s };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sessions.splice(0)) s.close('test over');
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
});

describe('ClientSession sends scrolls as CopyRect', () => {
  for (const [name, encodings] of [['Raw', [COPYRECT, RAW]], ['ZRLE', [ZRLE, COPYRECT]]] as const) {
    for (const dy of [8, -8, 24]) {
      it(`${name}, scroll by ${dy}: CopyRect first, then only the exposed strip; exact picture`, async () => {
        const { d, s } = scene();
        const c = await serve(d, [...encodings]);
        const top = 200;
        c.request(true);
        show(d, s.frame(top), []);
        await c.update(); // a jump: plain pixels
        for (let i = 1; i <= 3; i++) {
          c.request(true);
          const dirty = show(d, s.frame(top + i * dy), [scrollMove(dy)]);
          const u = await c.update();
          expect(differences(c, d)).toBe(0);
          const { x, y, w, h } = scrollMove(dy);
          expect(u.rects[0]).toEqual({ x, y, w, h, encoding: COPYRECT });
          expect(u.rects.slice(1).every((r) => r.encoding !== COPYRECT)).toBe(true);
          // Pixels only for dirty tiles the CopyRect does not fill: the exposed strip and the
          // window's partial tile rows.
          const m = scrollMove(dy);
          let left = 0;
          for (let ty = 0; ty < d.grid.tilesY; ty++)
            for (let tx = 0; tx < d.grid.tilesX; tx++) {
              const inside = tx * TILE >= m.x && (tx + 1) * TILE <= m.x + m.w && ty * TILE >= m.y && (ty + 1) * TILE <= m.y + m.h;
              if (dirty[ty * d.grid.tilesX + tx] && !inside) left++;
            }
          const pixelArea = u.rects.slice(1).reduce((a, r) => a + r.w * r.h, 0);
          expect(pixelArea).toBe(left * TILE * TILE);
        }
      });
    }
  }

  it('a client without CopyRect gets pixels, exact', async () => {
    const { d, s } = scene(2);
    const c = await serve(d, [ZRLE]);
    for (let i = 1; i <= 3; i++) {
      c.request(true);
      show(d, s.frame(i * 8), [scrollMove(8)]);
      const u = await c.update();
      expect(u.rects.some((r) => r.encoding === COPYRECT)).toBe(false);
      expect(differences(c, d)).toBe(0);
    }
  });

  it('no CopyRect when the source holds damage the client has not been sent', async () => {
    const { d, s } = scene(3);
    const c = await serve(d, [COPYRECT, RAW]);
    // No request outstanding: a change inside the window stays pending for this client ...
    d.paint({ x: 100, y: 120, w: 10, h: 10 }, 255, 0, 0);
    // ... then the window scrolls (its new pixels from the old ones, red square included).
    const next = s.frameWords(8);
    const cur = new Uint32Array(d.surface.data.buffer, d.surface.data.byteOffset, WIDTH * HEIGHT);
    for (let y = WINDOW.y; y < WINDOW.y + WINDOW.h - 8; y++)
      next.set(cur.subarray((y + 8) * WIDTH + WINDOW.x, (y + 8) * WIDTH + WINDOW.x + WINDOW.w), y * WIDTH + WINDOW.x);
    show(d, Buffer.from(next.buffer), [scrollMove(8)]);
    c.request(true);
    const u = await c.update();
    expect(u.rects.some((r) => r.encoding === COPYRECT)).toBe(false);
    expect(differences(c, d)).toBe(0);
  });

  it('a client that skipped frames still ends exact (moves of later frames only where safe)', async () => {
    const { d, s } = scene(4);
    const c = await serve(d, [COPYRECT, ZRLE]);
    let sent = 0;
    for (let i = 1; i <= 6; i++) {
      show(d, s.frame(i * 8), [scrollMove(8)]);
      if (i % 3 === 0) {
        c.request(true);
        const u = await c.update();
        sent += u.rects.filter((r) => r.encoding === COPYRECT).length;
        expect(differences(c, d)).toBe(0);
      }
    }
    expect(sent).toBeGreaterThan(0); // the first scroll after each update is safe
  });

  it('queued moves are sent only with a requested update, and dropped when the client stops taking CopyRect', async () => {
    const { d, s } = scene(5);
    const c = await serve(d, [COPYRECT, RAW]);
    show(d, s.frame(8), [scrollMove(8)]);
    c.setEncodings([RAW]); // CopyRect no longer accepted: the queued move becomes pixels
    c.request(true);
    const u = await c.update();
    expect(u.rects.some((r) => r.encoding === COPYRECT)).toBe(false);
    expect(differences(c, d)).toBe(0);
  });
});

describe('CopyRect and lossy (JPEG) areas', () => {
  it('CopyRect from pixels the client holds as JPEG moves their lossiness along: the destination is refreshed losslessly, the picture ends exact', async () => {
    const d = new FakeDisplay(WIDTH, HEIGHT, TILE);
    d.fill({ x: 0, y: 0, w: WIDTH, h: HEIGHT }, 20, 30, 40);
    paintSmooth(d, WINDOW, 0);
    const c = await serve(d, [TIGHT, COPYRECT, QUALITY_6], 150);
    c.request(false);
    const first = await c.tightUpdate();
    expect(first.jpeg).toBeGreaterThan(0);
    // The window scrolls by 8 (its content is a function of y + seed): the client's source is JPEG.
    const scrollBy = (seed: number): Move[] => {
      const next = Buffer.from(d.surface.data);
      const saved = d.surface.data;
      d.surface = { ...d.surface, data: next };
      paintSmooth(d, WINDOW, seed);
      d.surface = { ...d.surface, data: saved };
      show(d, next, [scrollMove(8)]);
      return [scrollMove(8)];
    };
    c.request(true);
    scrollBy(8);
    const lossySource = await c.tightUpdate();
    expect(lossySource.rects.some((r) => r.encoding === COPYRECT)).toBe(true);
    // Let it settle: the lossless refresh replaces every JPEG tile, moved ones included.
    for (let i = 0; i < 20; i++) {
      c.request(true);
      const u = await c.tightUpdate();
      if (u.jpeg === 0 && differences(c, d) === 0) break;
    }
    expect(differences(c, d)).toBe(0);
    c.request(true);
    scrollBy(16);
    const clean = await c.tightUpdate();
    expect(clean.rects[0]!.encoding).toBe(COPYRECT);
  });
});

describe('CopyRect and a cursor drawn into the picture', () => {
  it('no CopyRect over a cursor the server composites for this client; the picture stays exact', async () => {
    const { d, s } = scene(6);
    const image = { width: 8, height: 8, hotX: 0, hotY: 0, pixels: Buffer.alloc(8 * 8 * 4, 0xff) }; // opaque white
    const cursor: CursorState = { image, x: 100, y: 150 };
    (d as FakeDisplay & { cursor?: CursorState }).cursor = cursor;
    const c = await serve(d, [COPYRECT, RAW]); // no Cursor pseudo-encoding: the server draws it in
    const bad = (): number => {
      let n = 0;
      for (let y = 0; y < HEIGHT; y++)
        for (let x = 0; x < WIDTH; x++) {
          const inCursor = x >= cursor.x && x < cursor.x + 8 && y >= cursor.y && y < cursor.y + 8;
          const want = inCursor ? 0xffffff : d.surface.data.readUInt32LE((y * WIDTH + x) * 4) & 0xffffff;
          if (c.fb.get(x, y) % 0x1000000 !== want) n++; // the padding byte is not colour
        }
      return n;
    };
    expect(bad()).toBe(0);
    for (let i = 1; i <= 2; i++) {
      c.request(true);
      show(d, s.frame(i * 8), [scrollMove(8)]);
      const u = await c.update();
      expect(u.rects.some((r) => r.encoding === COPYRECT)).toBe(false);
      expect(bad()).toBe(0);
    }
  });
});
