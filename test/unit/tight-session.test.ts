// ClientSession with Tight over loopback: the pseudo-encodings from SetEncodings take effect
// (JPEG only with a quality level, compression level changes mid-connection), and areas sent
// as JPEG are re-sent losslessly once they stop changing. Decoding uses the independent
// decoder in test/decoders/tight.ts.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientSession } from '../../src/server/session.js';
import { SERVER_PIXEL_FORMAT } from '../../src/rfb/pixel-format.js';
import { ClientFramebuffer } from '../decoders/index.js';
import { TightDecoder } from '../decoders/tight.js';
import { FakeDisplay } from '../helpers/fake-display.js';
import { DecodingClient, differences } from '../helpers/decoding-client.js';

const TIGHT = 7, TIGHT_PNG = -260, LAST_RECT = -224;

interface Rect { x: number; y: number; w: number; h: number }
interface DecodedUpdate { rects: Array<Rect & { encoding: number }>; kinds: Set<string> }

/** An RFB client speaking 32 bpp (the server's format) that decodes Tight / TightPNG updates. */
class TightClient extends DecodingClient {
  fb = new ClientFramebuffer(1, 1);
  readonly tight = new TightDecoder(false);
  readonly tightPng = new TightDecoder(true);

  protected resize(width: number, height: number): void {
    this.fb = new ClientFramebuffer(width, height);
  }

  /** The next FramebufferUpdate, decoded into `fb` (retried as bytes arrive). */
  update(): Promise<DecodedUpdate> {
    const snapshot = () => {
      const undo = [this.tight.snapshot(), this.tightPng.snapshot()];
      const kinds = [new Set(this.tight.seen), new Set(this.tightPng.seen)];
      return () => {
        for (const u of undo) u();
        this.tight.seen.clear();
        for (const k of kinds[0]!) this.tight.seen.add(k);
        this.tightPng.seen.clear();
        for (const k of kinds[1]!) this.tightPng.seen.add(k);
      };
    };
    return this.decodeUpdate(snapshot, (r, count) => {
      const rects: DecodedUpdate['rects'] = [];
      this.tight.seen.clear();
      this.tightPng.seen.clear();
      for (let i = 0; count === 0xffff || i < count; i++) {
        const rect = { x: r.u16(), y: r.u16(), w: r.u16(), h: r.u16(), encoding: r.s32() };
        if (rect.encoding === LAST_RECT) break;
        if (rect.encoding === TIGHT) this.tight.decode(r, rect, SERVER_PIXEL_FORMAT, this.fb);
        else if (rect.encoding === TIGHT_PNG) this.tightPng.decode(r, rect, SERVER_PIXEL_FORMAT, this.fb);
        else throw new Error(`unexpected encoding ${rect.encoding}`);
        rects.push(rect);
      }
      return { rects, kinds: new Set([...this.tight.seen, ...this.tightPng.seen]) };
    });
  }
}

/** A smooth, many-coloured picture (photo-like: JPEG material) in `r`. */
function paintSmooth(d: FakeDisplay, r: Rect, seed: number): void {
  const { data, width } = d.surface;
  for (let y = r.y; y < r.y + r.h; y++)
    for (let x = r.x; x < r.x + r.w; x++) {
      const o = (y * width + x) * 4;
      data[o] = Math.round(127 + 120 * Math.sin((x + seed) / 9));
      data[o + 1] = Math.round(127 + 120 * Math.cos((y - seed) / 7));
      data[o + 2] = Math.round(127 + 120 * Math.sin((x + y) / 13));
      data[o + 3] = 0;
    }
}

let server: Server | undefined;
const sessions: ClientSession[] = [];
const clients: TightClient[] = [];

async function serve(d: FakeDisplay, losslessRefreshMs?: number): Promise<TightClient> {
  server = createServer((socket) => {
    sessions.push(new ClientSession(socket, d, { viewOnly: true, log: () => {}, losslessRefreshMs }));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const c = await TightClient.connect((server.address() as { port: number }).port);
  clients.push(c);
  await c.handshake();
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sessions.splice(0)) s.close('test over');
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
});

describe('ClientSession with Tight', () => {
  it('sends Tight, lossless, when the client names no quality level', async () => {
    const d = new FakeDisplay(200, 120);
    paintSmooth(d, { x: 0, y: 0, w: 200, h: 120 }, 1);
    d.fill({ x: 20, y: 20, w: 100, h: 60 }, 250, 250, 250);
    const c = await serve(d);
    c.setEncodings([TIGHT, 16]);
    c.request(false);
    const u = await c.update();
    expect(u.rects.every((r) => r.encoding === TIGHT)).toBe(true);
    expect(u.kinds.has('jpeg')).toBe(false);
    expect(u.kinds.has('fill')).toBe(true);
    expect(differences(c, d)).toBe(0);
  });

  it('JPEG with a quality level; the lossy area is refreshed losslessly once it stops changing', async () => {
    const d = new FakeDisplay(200, 120);
    d.fill({ x: 0, y: 0, w: 200, h: 120 }, 30, 60, 90);
    paintSmooth(d, { x: 32, y: 16, w: 128, h: 80 }, 2);
    const c = await serve(d, 50);
    c.setEncodings([TIGHT, -26 /* quality level 6 */]);
    c.request(false);
    const first = await c.update();
    expect(first.kinds.has('jpeg')).toBe(true);
    expect(differences(c, d)).toBeGreaterThan(0); // lossy
    // Nothing changes; the next incremental request is answered by the refresh.
    c.request(true);
    const refresh = await c.update();
    expect(refresh.kinds.has('jpeg')).toBe(false);
    expect(differences(c, d)).toBe(0);
    // Every JPEG rect of the first update lies inside the refreshed rects.
    const covered = (x: number, y: number) => refresh.rects.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h);
    for (const j of c.tight.jpegRects)
      for (let y = j.y; y < j.y + j.h; y++) for (let x = j.x; x < j.x + j.w; x++) expect(covered(x, y)).toBe(true);
  });

  it('an area that changes again goes lossy again, and is refreshed after it settles', async () => {
    const d = new FakeDisplay(160, 96);
    const c = await serve(d, 50);
    c.setEncodings([TIGHT, -512 + 60 /* fine quality 60 */, -767 /* 4:2:0 */]);
    c.request(false);
    await c.update();
    for (let frame = 1; frame <= 3; frame++) {
      paintSmooth(d, { x: 0, y: 0, w: 160, h: 96 }, frame * 5);
      d.damageAll();
      c.request(true);
      const u = await c.update();
      expect(u.kinds.has('jpeg')).toBe(true);
    }
    c.request(true);
    const refresh = await c.update();
    expect(refresh.kinds.has('jpeg')).toBe(false);
    expect(differences(c, d)).toBe(0);
  });

  it('follows compression-level changes mid-connection (streams reset on both sides)', async () => {
    const d = new FakeDisplay(200, 120);
    const c = await serve(d);
    c.setEncodings([TIGHT, -256 + 1]);
    c.request(false);
    await c.update();
    for (const [i, level] of [9, 0, 5].entries()) {
      paintSmooth(d, { x: 0, y: 0, w: 200, h: 120 }, i * 3);
      d.fill({ x: 10 + i * 20, y: 10, w: 40, h: 40 }, 255, 0, 0);
      c.setEncodings([TIGHT, -256 + level]);
      d.damageAll();
      c.request(true);
      await c.update();
      expect(differences(c, d)).toBe(0);
    }
  });

  it('TightPNG sends fills and PNG only', async () => {
    const d = new FakeDisplay(200, 120);
    paintSmooth(d, { x: 0, y: 0, w: 200, h: 120 }, 4);
    d.fill({ x: 0, y: 0, w: 200, h: 40 }, 0, 0, 0);
    const c = await serve(d);
    c.setEncodings([TIGHT_PNG]);
    c.request(false);
    const u = await c.update();
    expect(u.rects.every((r) => r.encoding === TIGHT_PNG)).toBe(true);
    expect([...u.kinds].sort()).toEqual(['fill', 'png']);
    expect(differences(c, d)).toBe(0);
  });
});
