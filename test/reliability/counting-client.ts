// A light client for load tests: pipelined handshake, then it counts FramebufferUpdates
// (skipping Raw and ZRLE bodies by their lengths, no decoding) and asks for the next one.
import { connect, type Socket } from 'node:net';
import { build } from '../fuzz/messages.js';

/** Counts FramebufferUpdates without decoding: skips Raw and ZRLE bodies by their lengths. */
export class CountingClient {
  updates: number[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private stage: 'init' | 'msg' = 'init';
  closed = false;
  constructor(readonly socket: Socket, readonly encoding: number, readonly width: number, readonly height: number) {
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
    // Pipelined 3.8 handshake, None, shared; then encodings and a full request.
    socket.write(Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1]), build.setEncodings([encoding, -223]), build.updateRequest(false, 0, 0, width, height)]));
  }

  static connect(port: number, encoding: number, width: number, height: number): Promise<CountingClient> {
    return new Promise((resolve, reject) => {
      const c = connect(port, '127.0.0.1', () => resolve(new CountingClient(c, encoding, width, height)));
      c.once('error', reject);
    });
  }

  private onData(b: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    for (;;) {
      const used = this.stage === 'init' ? this.parseInit() : this.parseUpdate();
      if (used === 0) return;
      this.buf = this.buf.subarray(used);
    }
  }

  private parseInit(): number {
    const b = this.buf;
    // version 12, security list (1 + n), SecurityResult 4, ServerInit 24 + name
    if (b.length < 13) return 0;
    const n = b[12]!;
    const at = 13 + n + 4;
    if (b.length < at + 24) return 0;
    const nameLen = b.readUInt32BE(at + 20);
    if (b.length < at + 24 + nameLen) return 0;
    this.stage = 'msg';
    return at + 24 + nameLen;
  }

  private parseUpdate(): number {
    const b = this.buf;
    if (b.length < 4) return 0;
    if (b[0] !== 0) throw new Error(`unexpected server message ${b[0]}`);
    const count = b.readUInt16BE(2);
    let at = 4;
    for (let i = 0; i < count; i++) {
      if (b.length < at + 12) return 0;
      const w = b.readUInt16BE(at + 4), h = b.readUInt16BE(at + 6), enc = b.readInt32BE(at + 8);
      at += 12;
      if (enc === 0) at += w * h * 4;
      else if (enc === 16) {
        if (b.length < at + 4) return 0;
        at += 4 + b.readUInt32BE(at);
      } else if (enc !== -223) throw new Error(`unexpected encoding ${enc}`);
      if (b.length < at) return 0;
    }
    this.updates.push(performance.now());
    this.socket.write(build.updateRequest(true, 0, 0, this.width, this.height));
    return at;
  }
}

