// A minimal RFB client for session tests: handshake without security, SetEncodings, requests,
// fences, and updates whose rects are all Raw (applied to fb, 32 bpp as the server's default).
import type { Rect } from '../../src/rfb/encodings/types.js';
import { RfbConnection } from './decoding-client.js';
import { handshakeNone } from './rfb-handshake.js';

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
/** A client that asks for Raw-shaped updates (every rect header must say Raw) and applies them to `fb`. */
export class RawUpdateClient extends RfbConnection {
  width = 0;
  height = 0;
  fb = Buffer.alloc(0);
  async handshake(): Promise<void> {
    ({ width: this.width, height: this.height } = await handshakeNone({ read: (n) => this.read(n), send: (b) => this.send(b) }));
    this.fb = Buffer.alloc(this.width * this.height * 4);
  }
  setEncodings(list: number[]): void {
    const b = Buffer.alloc(4 + 4 * list.length);
    b.writeUInt8(2, 0);
    b.writeUInt16BE(list.length, 2);
    list.forEach((e, i) => b.writeInt32BE(e, 4 + 4 * i));
    this.send([...b]);
  }
  request(incremental: boolean): void {
    this.send([3, incremental ? 1 : 0, 0, 0, 0, 0, ...u16(this.width), ...u16(this.height)]);
  }
  fence(flags: number, payload: number[]): void {
    this.send([248, 0, 0, 0, (flags >>> 24) & 0xff, (flags >>> 16) & 0xff, (flags >>> 8) & 0xff, flags & 0xff, payload.length, ...payload]);
  }
  /** Next server message: an update (Raw rects applied to fb) or a fence. */
  async next(): Promise<{ type: 'update'; rects: Rect[] } | { type: 'fence'; payload: number[] }> {
    const type = (await this.read(1))[0];
    if (type === 248) {
      const h = await this.read(8);
      return { type: 'fence', payload: [...(await this.read(h[7]!))] };
    }
    if (type !== 0) throw new Error(`unexpected message ${type}`);
    const count = (await this.read(3)).readUInt16BE(1);
    const rects: Rect[] = [];
    for (let i = 0; i < count; i++) {
      const h = await this.read(12);
      const r = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6) };
      if (h.readInt32BE(8) !== 0) throw new Error(`rect encoding ${h.readInt32BE(8)}, expected Raw`);
      const data = await this.read(r.w * r.h * 4);
      for (let y = 0; y < r.h; y++) data.copy(this.fb, ((r.y + y) * this.width + r.x) * 4, y * r.w * 4, (y + 1) * r.w * 4);
      rects.push(r);
    }
    return { type: 'update', rects };
  }
}

