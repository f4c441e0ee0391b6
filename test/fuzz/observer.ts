// A well-behaved client that watches the server while others fuzz it: it keeps asking for
// incremental updates, decodes every rectangle with the independent test decoders, and can
// be checked pixel for pixel against the display. A decoding error means its stream was
// corrupted; a disconnect means another client's input reached it.
import { connect, type Socket } from 'node:net';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import { ClientFramebuffer, TestClient, channelsOf } from '../decoders/index.js';
import type { SurfaceView } from '../../src/rfb/encodings/types.js';
import type { RgbImage } from '../helpers/image.js';
import type { FakeDisplay } from '../helpers/fake-display.js';
import { build, pixelFormatBytes } from './messages.js';

export const RAW = 0, ZRLE = 16, HEXTILE = 5, DESKTOP_SIZE = -223;

/** Little-endian 32 bpp with red in the low byte: exercises translation, stays exact (8-bit channels). */
export const BGR32: PixelFormat = {
  bitsPerPixel: 32, depth: 24, bigEndian: false, trueColour: true,
  redMax: 255, greenMax: 255, blueMax: 255, redShift: 0, greenShift: 8, blueShift: 16,
};

export class Observer {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiter: (() => void) | undefined;
  private decoder: TestClient | undefined;
  closed = false;
  /** Why the stream broke, if it did. */
  error: string | undefined;
  updates = 0;
  resizes = 0;
  bytes = 0;
  width = 0;
  height = 0;

  private constructor(private readonly socket: Socket, readonly encoding: number, readonly pf: PixelFormat | undefined) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.length += c.length;
      this.bytes += c.length;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** Connects, handshakes (3.8, None, shared) and starts the update loop. */
  static async start(port: number, encoding: number, pf?: PixelFormat): Promise<Observer> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const o = new Observer(socket, encoding, pf);
    await o.handshake();
    void o.loop().catch((e: Error) => {
      // A server-side close is reported as `closed`; anything else broke the stream.
      if (!o.error && !o.closed) o.error = e.message;
    });
    return o;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async read(n: number): Promise<Buffer> {
    while (this.length < n) {
      if (this.closed) throw new Error(`connection closed by the server while waiting for ${n} bytes`);
      await new Promise<void>((r) => (this.waiter = r));
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.length -= n;
    return all.subarray(0, n);
  }

  private async handshake(): Promise<void> {
    const version = await this.read(12);
    if (version.toString('latin1') !== 'RFB 003.008\n') throw new Error(`observer: server version ${JSON.stringify(version.toString())}`);
    this.socket.write('RFB 003.008\n');
    const n = (await this.read(1))[0]!;
    const types = [...(await this.read(n))];
    if (!types.includes(1)) throw new Error(`observer: server offers security ${types}, not None`);
    this.socket.write(Buffer.from([1]));
    if ((await this.read(4)).readUInt32BE(0) !== 0) throw new Error('observer: security failed');
    this.socket.write(Buffer.from([1])); // shared
    const init = await this.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    await this.read(init.readUInt32BE(20));
    const serverPf: PixelFormat = {
      bitsPerPixel: init[4]!, depth: init[5]!, bigEndian: init[6] !== 0, trueColour: init[7] !== 0,
      redMax: init.readUInt16BE(8), greenMax: init.readUInt16BE(10), blueMax: init.readUInt16BE(12),
      redShift: init[14]!, greenShift: init[15]!, blueShift: init[16]!,
    };
    const pf = this.pf ?? serverPf;
    if (this.pf) {
      const p = this.pf;
      this.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 0]), pixelFormatBytes({
        bpp: p.bitsPerPixel, depth: p.depth, bigEndian: p.bigEndian, trueColour: p.trueColour,
        max: [p.redMax, p.greenMax, p.blueMax], shift: [p.redShift, p.greenShift, p.blueShift],
      })]));
    }
    this.decoder = new TestClient(this.width, this.height, pf);
    this.socket.write(build.setEncodings([this.encoding, DESKTOP_SIZE]));
    this.socket.write(build.updateRequest(false, 0, 0, this.width, this.height));
  }

  private async loop(): Promise<void> {
    for (;;) {
      const type = (await this.read(1))[0]!;
      if (type !== 0) throw new Error(`observer: unexpected server message type ${type}`);
      const count = (await this.read(3)).readUInt16BE(1);
      for (let i = 0; i < count; i++) {
        const header = Buffer.from(await this.read(12));
        const w = header.readUInt16BE(4), h = header.readUInt16BE(6), enc = header.readInt32BE(8);
        let body: Buffer;
        if (enc === DESKTOP_SIZE) {
          // New mode: a fresh framebuffer, the same decoder (ZRLE's zlib stream goes on).
          this.width = w;
          this.height = h;
          (this.decoder as { fb: ClientFramebuffer }).fb = new ClientFramebuffer(w, h);
          this.resizes++;
          continue;
        }
        if (enc === RAW) body = Buffer.from(await this.read(w * h * (this.decoder!.pf.bitsPerPixel / 8)));
        else if (enc === ZRLE) {
          const len = await this.read(4);
          body = Buffer.concat([len, await this.read(len.readUInt32BE(0))]);
        } else throw new Error(`observer: rectangle encoding ${enc}, asked only for ${this.encoding}`);
        this.decoder!.decode([header, body], 1);
      }
      this.updates++;
      this.socket.write(build.updateRequest(true, 0, 0, this.width, this.height));
    }
  }

  /** Pixels that differ from the display's surface (−1: wrong size). */
  mismatches(display: { surface: SurfaceView }): number {
    const { data, width, height } = display.surface;
    return this.differences(width, height, (o) => [data[o * 4 + 2]!, data[o * 4 + 1]!, data[o * 4]!]);
  }

  /** Pixels that differ from an RGB picture (−1: wrong size). */
  mismatchesRgb(img: RgbImage): number {
    return this.differences(img.width, img.height, (o) => [img.rgb[o * 3]!, img.rgb[o * 3 + 1]!, img.rgb[o * 3 + 2]!]);
  }

  private differences(width: number, height: number, rgbAt: (pixel: number) => [number, number, number]): number {
    if (!this.decoder || width !== this.width || height !== this.height) return -1;
    const fb = this.decoder.fb, pf = this.decoder.pf;
    let bad = 0;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const v = fb.get(x, y);
        if (v < 0) {
          bad++;
          continue;
        }
        const [r, g, b] = channelsOf(v, pf);
        const [er, eg, eb] = rgbAt(y * width + x);
        if (r !== er || g !== eg || b !== eb) bad++;
      }
    return bad;
  }

  /** Waits until the decoded picture equals the display (the display must hold still). */
  async waitForMatch(display: { surface: SurfaceView } | RgbImage, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.error) throw new Error(`observer (${this.encoding}): stream broken: ${this.error}`);
      if (this.closed) throw new Error(`observer (${this.encoding}): disconnected by the server`);
      const bad = 'rgb' in display ? this.mismatchesRgb(display) : this.mismatches(display);
      if (bad === 0) return;
      if (Date.now() > deadline) throw new Error(`observer (encoding ${this.encoding}): ${bad} pixels differ from the display after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Paints random rectangles on the display at an interval, until paused. */
export class Painter {
  private timer: NodeJS.Timeout | undefined;
  paints = 0;
  private state: number;
  constructor(private readonly display: FakeDisplay, seed = 1) {
    this.state = seed >>> 0 || 1;
  }
  private rand(n: number): number {
    // xorshift32: deterministic pictures for a given seed
    let s = this.state;
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    this.state = s;
    return s % n;
  }
  start(intervalMs = 10): void {
    this.timer ??= setInterval(() => {
      const { width, height } = this.display.surface;
      const x = this.rand(width), y = this.rand(height);
      this.display.paint({ x, y, w: 1 + this.rand(width - x), h: 1 + this.rand(height - y) }, this.rand(256), this.rand(256), this.rand(256));
      this.paints++;
    }, intervalMs);
  }
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
