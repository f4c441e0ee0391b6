// One client's slow encode must not hold back another client's frames: two sessions on one
// real CapturedDisplay, one with an encoder whose batch the test keeps open (it holds the
// surface as a worker thread would), one with Raw. The Raw client gets each new guest frame
// while the other batch is still open; the slow client then gets exactly the frame it began
// with, and the newest one next.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { native, type NativeMapping } from '../../src/native.js';
import { ClientSession } from '../../src/server/session.js';
import { CapturedDisplay } from '../../src/surface/captured-display.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import type { Frame, FrameSource } from '../../src/source/types.js';
import type { EncodedRects, Rect, SurfaceView } from '../../src/rfb/encodings/types.js';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import { RawUpdateClient } from '../helpers/raw-update-client.js';

const GATED_ENCODING = 16; // asked for as ZRLE; Raw on the wire once the gate opens
let openGate: () => void = () => {};
let gate = Promise.resolve();
let gatedBatches = 0;

vi.mock('../../src/rfb/encodings/index.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/rfb/encodings/index.js')>();
  const { RawEncoder } = await import('../../src/rfb/encodings/raw.js');
  class GatedRaw extends RawEncoder {
    async encodeBatch(surface: SurfaceView, rects: readonly Rect[], pf: PixelFormat): Promise<EncodedRects> {
      gatedBatches++;
      await gate; // reads the pixels only at the end, as a worker thread would
      return rects.map((r) => {
        const parts: Buffer[] = [];
        this.encode(surface, r, pf, parts);
        return parts;
      });
    }
  }
  return { ...orig, createEncoder: (e: number, o?: object) => (e === GATED_ENCODING ? new GatedRaw() : orig.createEncoder(e, o)) };
});

const W = 64, H = 32;
let dir: string | undefined;
let mapping: NativeMapping | undefined;
let server: Server | undefined;
let display: CapturedDisplay | undefined;
const sessions: ClientSession[] = [];
afterEach(async () => {
  openGate();
  for (const s of sessions.splice(0)) s.close('test over');
  if (server) await new Promise((r) => server!.close(r));
  await display?.close();
  mapping?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  server = display = mapping = dir = undefined;
});

/** The guest's pixels as a client sees them (X byte zero). */
function guestPicture(m: NativeMapping): Buffer {
  const pixels = m.read(0, W * H * 4);
  for (let i = 0; i < pixels.length; i += 4) pixels[i + 3] = 0;
  return pixels;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), 3000))]);
}

describe('two clients on one display', () => {
  it("a client's frames do not wait for another client's encode", async () => {
    gate = new Promise<void>((r) => (openGate = r));
    dir = mkdtempSync(join(tmpdir(), 'vgpu-fair-'));
    writeFileSync(join(dir, 'fb'), Buffer.alloc(W * H * 4, 0x20));
    const m = (mapping = new native.Mapping(join(dir, 'fb')));
    const source: FrameSource = {
      description: 'file',
      nextFrame: async (): Promise<Frame> => ({ kind: 'plane', mapping: m, plane: { fourcc: Fourcc.XRGB8888, width: W, height: H, stride: W * 4, offset: 0 } }),
      close: async () => {},
    };
    const d = (display = new CapturedDisplay(source, { name: 't', maxFps: 200, log: () => {}, tileSize: 16 }));
    await d.start();
    server = createServer((socket) => sessions.push(new ClientSession(socket, d, { viewOnly: true, log: () => {} })));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const connect = async (encoding: number) => {
      const c = await RawUpdateClient.connect(port);
      await c.handshake();
      c.setEncodings([encoding]);
      return c;
    };
    const slow = await connect(GATED_ENCODING);
    const fast = await connect(0);

    const frame0 = guestPicture(m);
    slow.request(false);
    const slowUpdate = slow.next();
    slowUpdate.catch(() => {}); // awaited below; a failure before that must not be unhandled
    await vi.waitFor(() => expect(gatedBatches).toBe(1)); // its batch holds frame 0
    fast.request(false);
    await withTimeout(fast.next(), 'first update');
    expect(fast.fb.equals(frame0)).toBe(true);

    for (let n = 1; n <= 3; n++) {
      m.writeU32(((n * 7) * W + n * 13) * 4, 0x00010203 * n); // a pixel in another tile each time
      fast.request(true);
      const update = await withTimeout(fast.next(), `frame ${n} while the other client encodes`);
      expect(update.type).toBe('update');
      expect(fast.fb.equals(guestPicture(m))).toBe(true);
    }
    expect(gatedBatches).toBe(1);

    openGate();
    await slowUpdate;
    expect(slow.fb.equals(frame0)).toBe(true); // the frame it held, not a mix
    slow.request(true);
    await withTimeout(slow.next(), 'the slow client catching up');
    expect(slow.fb.equals(guestPicture(m))).toBe(true);
  });
});
