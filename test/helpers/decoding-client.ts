// Small loopback RFB clients for unit tests that drive a ClientSession: a byte reader over the
// socket, and on top of it a 32 bpp client (the server's format) that decodes updates into a
// framebuffer. Each test adds only its own decoding (which encodings, which decoder state).
import { connect, type Socket } from 'node:net';
import { Reader, type ClientFramebuffer } from '../decoders/index.js';
import type { FakeDisplay } from './fake-display.js';
import { handshakeNone } from './rfb-handshake.js';

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const s32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return [...b]; };

/** The client's end of a socket: exact reads that wait for bytes, and writes. */
export class RfbConnection {
  protected buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiter?.();
    });
    socket.on('close', () => { this.closed = true; this.waiter?.(); });
    socket.on('error', () => {});
  }

  /** Connects to 127.0.0.1:port and wraps the socket in this class. */
  static connect<T extends RfbConnection>(this: new (socket: Socket) => T, port: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new this(s)));
      s.once('error', reject);
    });
  }

  /** Waits for the next chunk of bytes (rejects once the connection is closed). */
  protected async more(): Promise<void> {
    if (this.closed) throw new Error('connection closed');
    await new Promise<void>((r) => (this.waiter = r));
    this.waiter = undefined;
  }

  /** Exactly n bytes. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.more();
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return b;
  }

  send(bytes: number[]): void {
    this.socket.write(Buffer.from(bytes));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A client that decodes updates into `fb`; subclasses say how the framebuffer is made and decoded. */
export abstract class DecodingClient extends RfbConnection {
  abstract get fb(): ClientFramebuffer;
  /** Makes the framebuffer for the size in ServerInit. */
  protected abstract resize(width: number, height: number): void;

  /** Security None, shared session; the framebuffer gets the server's size. */
  async handshake(): Promise<void> {
    const { width, height } = await handshakeNone({ read: (n) => this.read(n), send: (b) => this.send(b) });
    this.resize(width, height);
  }

  setEncodings(list: number[]): void {
    this.send([2, 0, ...u16(list.length), ...list.flatMap(s32)]);
  }

  request(incremental: boolean): void {
    this.send([3, incremental ? 1 : 0, 0, 0, 0, 0, ...u16(this.fb.width), ...u16(this.fb.height)]);
  }

  /**
   * The next FramebufferUpdate, for encodings without a length prefix (Tight): `decode` reads the
   * rects (given the Reader past the header and the rect count); when the bytes run short it
   * throws "truncated", `snapshot`'s undo puts the decoder state back, and it is retried once
   * more bytes arrive.
   */
  protected async decodeUpdate<T>(snapshot: () => () => void, decode: (r: Reader, count: number) => T): Promise<T> {
    for (;;) {
      while (this.buf.length < 4) await this.more();
      if (this.buf[0] !== 0) throw new Error(`unexpected server message ${this.buf[0]}`);
      const undo = snapshot();
      try {
        const r = new Reader(this.buf, 4);
        const result = decode(r, this.buf.readUInt16BE(2));
        this.buf = this.buf.subarray(r.off);
        return result;
      } catch (err) {
        undo();
        if (!/truncated/.test((err as Error).message)) throw err;
        await this.more();
      }
    }
  }
}

/** Pixels where the client's framebuffer differs from the display (32 bpp: value = XRGB). */
export function differences(c: { fb: ClientFramebuffer }, d: FakeDisplay): number {
  let bad = 0;
  const { data, width, height } = d.surface;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) if (c.fb.get(x, y) !== (data.readUInt32LE((y * width + x) * 4) & 0xffffff)) bad++;
  return bad;
}
