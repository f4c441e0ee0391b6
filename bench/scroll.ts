// Scroll detection: bytes per frame a ZRLE client (with CopyRect) receives while a 1080p
// full-screen terminal scrolls 8 px a frame, with and without scroll detection, and what the
// detection costs (native segment hashing + kept rows inside the capture, JS matching after it).
// In process: a file-backed plane, CapturedDisplay, ClientSession, a small counting client.
import { mkdtempSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, type PlaneGeometry } from '../src/native.js';
import { CapturedDisplay } from '../src/surface/captured-display.js';
import { ClientSession } from '../src/server/session.js';
import { TileGrid } from '../src/surface/dirty.js';
import { ScrollDetector } from '../src/surface/scroll.js';
import { Fourcc } from '../src/surface/fourcc.js';
import { ScrollScene } from '../test/helpers/scroll-frames.js';

const WIDTH = 1920, HEIGHT = 1080, STEP = 8, FRAMES = 60, TILE = 32;
const ZRLE = 16, COPYRECT = 1, RAW = 0;

/** RFB client (security None, 32 bpp) that counts the bytes of each FramebufferUpdate. */
class CountingClient {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) => { this.buf = Buffer.concat([this.buf, c]); this.waiter?.(); });
  }
  static async open(port: number, encodings: number[]): Promise<CountingClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const c = new CountingClient(socket);
    await c.read(12);
    socket.write('RFB 003.008\n');
    await c.read((await c.read(1))[0]!);
    socket.write(Buffer.from([1]));
    await c.read(4);
    socket.write(Buffer.from([1]));
    const init = await c.read(24);
    await c.read(init.readUInt32BE(20));
    const set = Buffer.alloc(4 + 4 * encodings.length);
    set[0] = 2;
    set.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => set.writeInt32BE(e, 4 + 4 * i));
    socket.write(set);
    return c;
  }
  private async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) await new Promise<void>((r) => (this.waiter = r));
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }
  request(incremental: boolean): void {
    const b = Buffer.from([3, incremental ? 1 : 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.writeUInt16BE(WIDTH, 6);
    b.writeUInt16BE(HEIGHT, 8);
    this.socket.write(b);
  }
  /** The next update: its bytes and how many CopyRects it held. */
  async update(): Promise<{ bytes: number; copyRects: number }> {
    const head = await this.read(4);
    if (head[0] !== 0) throw new Error(`unexpected message ${head[0]}`);
    let bytes = 4, copyRects = 0;
    for (let i = head.readUInt16BE(2); i > 0; i--) {
      const h = await this.read(12);
      const w = h.readUInt16BE(4), hh = h.readUInt16BE(6), enc = h.readInt32BE(8);
      let body: number;
      if (enc === COPYRECT) {
        body = 4;
        copyRects++;
        await this.read(body);
      } else if (enc === ZRLE) {
        const length = (await this.read(4)).readUInt32BE(0);
        await this.read(length);
        body = 4 + length;
      } else if (enc === RAW) {
        body = w * hh * 4;
        await this.read(body);
      } else throw new Error(`unexpected encoding ${enc}`);
      bytes += 12 + body;
    }
    return { bytes, copyRects };
  }
  close(): void {
    this.socket.destroy();
  }
}

interface Outcome { bytesPerFrame: number; copyRectsPerFrame: number; detectMs: number }

async function play(scene: ScrollScene, path: string, scrollDetection: boolean): Promise<Outcome> {
  const fd = openSync(path, 'r+');
  const show = (top: number) => writeSync(fd, scene.frame(top), 0, WIDTH * HEIGHT * 4, 0);
  show(0);
  const mapping = new native.Mapping(path);
  const plane: PlaneGeometry = { fourcc: Fourcc.XRGB8888, width: WIDTH, height: HEIGHT, stride: WIDTH * 4, offset: 0 };
  const source = { description: 'bench file', nextFrame: async () => ({ kind: 'plane' as const, mapping, plane }), close: async () => mapping.close() };
  const display = new CapturedDisplay(source, { name: 'bench', maxFps: 240, log: () => {}, tileSize: TILE, scrollDetection });
  await display.start(0);
  const server = createServer((socket) => new ClientSession(socket, display, { viewOnly: true, log: () => {} }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = await CountingClient.open((server.address() as { port: number }).port, [ZRLE, COPYRECT]);
  try {
    client.request(false);
    await client.update();
    let bytes = 0, copyRects = 0;
    const detectMs: number[] = [];
    for (let i = 1; i <= FRAMES; i++) {
      show(i * STEP);
      client.request(true);
      const u = await client.update();
      bytes += u.bytes;
      copyRects += u.copyRects;
      detectMs.push(display.lastDetectMs);
    }
    return { bytesPerFrame: bytes / FRAMES, copyRectsPerFrame: copyRects / FRAMES, detectMs: median(detectMs) };
  } finally {
    client.close();
    await new Promise((r) => server.close(r));
    await display.close();
    closeSync(fd);
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Capture time of one scroll step with and without the history (segment hashes + kept rows). */
function nativeCost(scene: ScrollScene, path: string, next = scene.frame(STEP)): { plain: number; history: number; match: number } {
  const frameBytes = WIDTH * HEIGHT * 4;
  const fd = openSync(path, 'w');
  writeSync(fd, scene.frame(0), 0, frameBytes, 0);
  writeSync(fd, next, 0, frameBytes, frameBytes);
  closeSync(fd);
  const mapping = new native.Mapping(path);
  const plane = (i: number): PlaneGeometry => ({ fourcc: Fourcc.XRGB8888, width: WIDTH, height: HEIGHT, stride: WIDTH * 4, offset: i * frameBytes });
  const grid = new TileGrid(WIDTH, HEIGHT, TILE);
  const cur = new Uint32Array(HEIGHT * grid.tilesX * 2), prev = new Uint32Array(cur.length);
  const history = { segmentHashes: Buffer.from(cur.buffer), oldRows: Buffer.alloc(Math.ceil(HEIGHT / 8) * WIDTH * 4), oldRowStep: 8 };
  const surface = Buffer.alloc(frameBytes);
  const plain: number[] = [], withHistory: number[] = [], match: number[] = [];
  try {
    for (let run = 0; run < 15; run++) {
      native.captureSync(mapping, plane(0), surface, TILE, true, undefined, history);
      let t = performance.now();
      native.captureSync(mapping, plane(1), surface, TILE, false);
      plain.push(performance.now() - t);
      native.captureSync(mapping, plane(0), surface, TILE, true, undefined, history);
      prev.set(cur);
      t = performance.now();
      const r = native.captureSync(mapping, plane(1), surface, TILE, false, undefined, history);
      withHistory.push(performance.now() - t);
      t = performance.now();
      new ScrollDetector().detect(grid, r.dirty, prev, cur); // cold: votes from scratch
      match.push(performance.now() - t);
    }
  } finally {
    mapping.close();
  }
  return { plain: median(plain), history: median(withHistory), match: median(match) };
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-bench-scroll-'));
  const path = join(dir, 'fb');
  try {
    const scene = new ScrollScene(WIDTH, HEIGHT, { x: 0, y: 0, w: WIDTH, h: HEIGHT }, 11, 4000);
    const fd = openSync(path, 'w');
    writeSync(fd, Buffer.alloc(WIDTH * HEIGHT * 4));
    closeSync(fd);
    const off = await play(scene, path, false);
    const on = await play(scene, path, true);
    const kib = (b: number) => (b / 1024).toFixed(1);
    console.log(`1920x1080 full-screen text scrolling ${STEP} px/frame, ${FRAMES} frames, ZRLE + CopyRect client, ${TILE}-px tiles`);
    console.log(`  without scroll detection: ${kib(off.bytesPerFrame)} KiB/frame`);
    console.log(`  with scroll detection:    ${kib(on.bytesPerFrame)} KiB/frame (${on.copyRectsPerFrame.toFixed(1)} CopyRects/frame), ${(off.bytesPerFrame / on.bytesPerFrame).toFixed(1)}x fewer bytes`);
    console.log(`  detection in JS (match + verify), steady scroll: ${on.detectMs.toFixed(2)} ms/frame (median)`);
    const cost = nativeCost(scene, path);
    console.log(`  capture of one scroll step: ${cost.plain.toFixed(2)} ms plain, ${cost.history.toFixed(2)} ms with segment hashes + kept rows (+${(cost.history - cost.plain).toFixed(2)} ms); first-frame match (votes from scratch) ${cost.match.toFixed(2)} ms`);
    // The price on content that does not scroll: every tile changes, no move exists.
    const other = nativeCost(scene, path, new ScrollScene(WIDTH, HEIGHT, { x: 0, y: 0, w: WIDTH, h: HEIGHT }, 12, 4000).frame(0));
    console.log(`  a full-screen change that is no scroll: capture ${other.plain.toFixed(2)} -> ${other.history.toFixed(2)} ms, match ${other.match.toFixed(2)} ms (finds nothing)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
