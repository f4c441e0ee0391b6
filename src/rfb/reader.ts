// Client-to-server message parser (TigerVNC's SMsgReader role): bytes in, typed messages
// out, no session state. Every length a client sends is checked before anything is
// buffered or allocated for it (the `ws` Receiver rule).
import { ClientMsg, Limits, QemuSubMsg } from './constants.js';
import { parsePixelFormat, type PixelFormat } from './pixel-format.js';
import type { Rect } from './encodings/types.js';

/** A client broke the protocol; `message` is a one-line reason fit for the log. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export interface Screen {
  id: number;
  x: number;
  y: number;
  w: number;
  h: number;
  flags: number;
}

export type ClientMessage =
  | { type: 'SetPixelFormat'; pixelFormat: PixelFormat }
  | { type: 'SetEncodings'; encodings: number[] }
  | { type: 'FramebufferUpdateRequest'; incremental: boolean; rect: Rect }
  | { type: 'KeyEvent'; down: boolean; keysym: number }
  | { type: 'PointerEvent'; buttonMask: number; x: number; y: number }
  /** `text` is Latin-1; extended-clipboard messages (negative length) carry none. */
  | { type: 'ClientCutText'; text: string | undefined; extended: boolean }
  | { type: 'EnableContinuousUpdates'; enable: boolean; rect: Rect }
  | { type: 'ClientFence'; flags: number; payload: Buffer }
  | { type: 'SetDesktopSize'; width: number; height: number; screens: Screen[] }
  | { type: 'QemuExtendedKeyEvent'; down: boolean; keysym: number; keycode: number };

/** Bytes that arrived but do not yet form a whole message, kept as a chunk list. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  byteAt(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    throw new RangeError('ByteQueue.byteAt past end');
  }

  /** The first `n` bytes (n ≤ length) as one Buffer, copying only when they span chunks. */
  peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    // Merge only the chunks that hold those bytes: a client trickling a long message in
    // tiny chunks must not make every peek of its header copy everything queued.
    let k = 0, have = 0;
    while (have < n) have += this.chunks[k++]!.length;
    const merged = Buffer.concat(this.chunks.slice(0, k), have);
    this.chunks.splice(0, k, merged);
    return merged.subarray(0, n);
  }

  consume(n: number): void {
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        this.chunks.shift();
        n -= c.length;
      } else {
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }

  /** Everything still queued, as one Buffer (handover from the handshake). */
  takeAll(): Buffer {
    const all = Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    this.length = 0;
    return all;
  }
}

/** Fixed part of each message (type byte included) before any variable-length tail. */
const HEADER_SIZE: Record<number, number> = {
  [ClientMsg.SetPixelFormat]: 20,
  [ClientMsg.SetEncodings]: 4,
  [ClientMsg.FramebufferUpdateRequest]: 10,
  [ClientMsg.KeyEvent]: 8,
  [ClientMsg.PointerEvent]: 6,
  [ClientMsg.ClientCutText]: 8,
  [ClientMsg.EnableContinuousUpdates]: 10,
  [ClientMsg.ClientFence]: 9,
  [ClientMsg.SetDesktopSize]: 8,
  [ClientMsg.Qemu]: 2,
};

/** Size of a QEMU submessage, whole (the 2-byte header included). */
const QEMU_SIZE: Record<number, number> = {
  [QemuSubMsg.ExtendedKeyEvent]: 12,
};

/**
 * Incremental parser: `push(chunk)` returns every message completed by that chunk, keeping
 * a partial message buffered. A message may be split across chunks at any byte.
 * Throws ProtocolError on input that breaks the protocol or its limits; the reader must
 * not be used after that (the stream is out of sync).
 */
export class ClientMessageReader {
  private readonly queue = new ByteQueue();

  push(chunk: Buffer): ClientMessage[] {
    this.queue.push(chunk);
    const out: ClientMessage[] = [];
    for (;;) {
      const msg = this.next();
      if (!msg) return out;
      out.push(msg);
    }
  }

  /** Bytes received but not yet part of a complete message. */
  get buffered(): number {
    return this.queue.length;
  }

  private next(): ClientMessage | undefined {
    const q = this.queue;
    if (q.length < 1) return undefined;
    const type = q.byteAt(0);
    const header = HEADER_SIZE[type];
    if (header === undefined) throw new ProtocolError(`unknown client message type ${type}`);
    if (q.length < header) return undefined;
    const total = header + this.tailSize(type, q.peek(header));
    if (q.length < total) return undefined;
    const msg = parse(type, q.peek(total));
    q.consume(total);
    return msg;
  }

  /** Length of the variable part, validated against the limits before anything waits for it. */
  private tailSize(type: number, h: Buffer): number {
    switch (type) {
      case ClientMsg.SetEncodings: {
        const count = h.readUInt16BE(2);
        if (count > Limits.maxEncodings)
          throw new ProtocolError(
            `SetEncodings lists ${count} encodings; at most ${Limits.maxEncodings} accepted (rfbproto defines far fewer)`,
          );
        return count * 4;
      }
      case ClientMsg.ClientCutText: {
        // Extended clipboard sends a negative length (its absolute value is the size).
        const len = Math.abs(h.readInt32BE(4));
        if (len > Limits.maxCutText)
          throw new ProtocolError(`ClientCutText of ${len} bytes exceeds the ${Limits.maxCutText}-byte limit`);
        return len;
      }
      case ClientMsg.ClientFence: {
        const len = h[8]!;
        if (len > Limits.maxFencePayload)
          throw new ProtocolError(`ClientFence payload of ${len} bytes exceeds ${Limits.maxFencePayload}`);
        return len;
      }
      case ClientMsg.SetDesktopSize: {
        const screens = h[6]!;
        if (screens === 0) throw new ProtocolError('SetDesktopSize with 0 screens');
        if (screens > Limits.maxScreens)
          throw new ProtocolError(`SetDesktopSize with ${screens} screens; at most ${Limits.maxScreens} accepted`);
        return screens * 16;
      }
      case ClientMsg.Qemu: {
        const size = QEMU_SIZE[h[1]!];
        if (size === undefined) throw new ProtocolError(`unknown QEMU client submessage ${h[1]}`);
        return size - HEADER_SIZE[ClientMsg.Qemu]!;
      }
      default:
        return 0;
    }
  }
}

function rectAt(b: Buffer, off: number): Rect {
  return { x: b.readUInt16BE(off), y: b.readUInt16BE(off + 2), w: b.readUInt16BE(off + 4), h: b.readUInt16BE(off + 6) };
}

/** `b` holds exactly one whole message of `type`, already length-checked. */
function parse(type: number, b: Buffer): ClientMessage {
  switch (type) {
    case ClientMsg.SetPixelFormat:
      return { type: 'SetPixelFormat', pixelFormat: parsePixelFormat(b.subarray(4, 20)) };
    case ClientMsg.SetEncodings: {
      const count = b.readUInt16BE(2);
      const encodings = new Array<number>(count);
      for (let i = 0; i < count; i++) encodings[i] = b.readInt32BE(4 + 4 * i);
      return { type: 'SetEncodings', encodings };
    }
    case ClientMsg.FramebufferUpdateRequest:
      return { type: 'FramebufferUpdateRequest', incremental: b[1] !== 0, rect: rectAt(b, 2) };
    case ClientMsg.KeyEvent:
      return { type: 'KeyEvent', down: b[1] !== 0, keysym: b.readUInt32BE(4) };
    case ClientMsg.PointerEvent:
      return { type: 'PointerEvent', buttonMask: b[1]!, x: b.readUInt16BE(2), y: b.readUInt16BE(4) };
    case ClientMsg.ClientCutText: {
      const extended = b.readInt32BE(4) < 0;
      return { type: 'ClientCutText', extended, text: extended ? undefined : b.toString('latin1', 8) };
    }
    case ClientMsg.EnableContinuousUpdates:
      return { type: 'EnableContinuousUpdates', enable: b[1] !== 0, rect: rectAt(b, 2) };
    case ClientMsg.ClientFence:
      // Copy: the payload outlives the receive buffer it arrived in.
      return { type: 'ClientFence', flags: b.readUInt32BE(4), payload: Buffer.from(b.subarray(9, 9 + b[8]!)) };
    case ClientMsg.SetDesktopSize: {
      const screens: Screen[] = [];
      for (let i = 0, off = 8; i < b[6]!; i++, off += 16)
        screens.push({
          id: b.readUInt32BE(off),
          x: b.readUInt16BE(off + 4),
          y: b.readUInt16BE(off + 6),
          w: b.readUInt16BE(off + 8),
          h: b.readUInt16BE(off + 10),
          flags: b.readUInt32BE(off + 12),
        });
      return { type: 'SetDesktopSize', width: b.readUInt16BE(2), height: b.readUInt16BE(4), screens };
    }
    case ClientMsg.Qemu:
      // Only the extended key event gets here (tailSize refused the rest).
      return { type: 'QemuExtendedKeyEvent', down: b.readUInt16BE(2) !== 0, keysym: b.readUInt32BE(4), keycode: b.readUInt32BE(8) };
    default:
      throw new ProtocolError(`unknown client message type ${type}`);
  }
}

export { ByteQueue };
