// The server under fuzz: a real VncListener in this process on a loopback port, over a
// FakeDisplay that a painter keeps changing. Every session's end is recorded with its
// reason (from the listener's own log lines), keyed by the client's port.
import { connect, type Socket } from 'node:net';
import { VncListener } from '../../src/server/listener.js';
import { FakeDisplay } from '../helpers/fake-display.js';

export interface Disconnect {
  reason: string;
}

export interface TargetOptions {
  width?: number;
  height?: number;
  password?: string;
  handshakeTimeoutMs?: number;
  stallTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Keep every log line (memory grows with the run); default: only the last 200. */
  keepLog?: boolean;
}

export class FuzzTarget {
  readonly display: FakeDisplay;
  readonly listener: VncListener;
  port = 0;
  /** Disconnect reasons by client port, until collected with takeDisconnect(). */
  private readonly ended = new Map<number, string>();
  private readonly waiters = new Map<number, (reason: string) => void>();
  readonly log: string[] = [];
  /** Disconnect reasons and how often each was seen (numbers and sizes replaced by #). */
  readonly reasons = new Map<string, number>();

  constructor(private readonly opts: TargetOptions = {}) {
    this.display = new FakeDisplay(opts.width ?? 64, opts.height ?? 48, 16, 'fuzz target');
    this.display.fillPattern(3);
    this.listener = new VncListener(this.display, {
      host: '127.0.0.1',
      port: 0,
      password: opts.password,
      viewOnly: true,
      log: (line) => this.onLog(line),
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      stallTimeoutMs: opts.stallTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
    });
  }

  async start(): Promise<this> {
    this.port = (await this.listener.listen()).port;
    return this;
  }

  close(): Promise<void> {
    return this.listener.close();
  }

  private onLog(line: string): void {
    this.log.push(line);
    if (!this.opts.keepLog && this.log.length > 400) this.log.splice(0, 200);
    const m = /^client [^ ]*:(\d+): disconnected \((.*)\)$/.exec(line);
    if (!m) return;
    const port = Number(m[1]);
    const reason = m[2]!;
    const kind = reason.replace(/: ".*"$/s, ': "…"').replace(/\d+/g, '#');
    this.reasons.set(kind, (this.reasons.get(kind) ?? 0) + 1);
    const w = this.waiters.get(port);
    if (w) {
      this.waiters.delete(port);
      w(reason);
    } else this.ended.set(port, reason);
  }

  /** Resolves with the logged reason once the server has ended the session of the client on `port`. */
  disconnectOf(port: number, timeoutMs: number): Promise<string | undefined> {
    const done = this.ended.get(port);
    if (done !== undefined) {
      this.ended.delete(port);
      return Promise.resolve(done);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(port);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(port, (reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
  }

  /** A raw connection whose received bytes are counted and dropped (the client reads everything). */
  rawConnect(): Promise<{ socket: Socket; localPort: number; received: () => number }> {
    return new Promise((resolve, reject) => {
      let received = 0;
      const socket = connect(this.port, '127.0.0.1', () =>
        resolve({ socket, localPort: socket.localPort!, received: () => received }),
      );
      socket.on('data', (b: Buffer) => (received += b.length));
      socket.once('error', reject);
      socket.on('error', () => {});
    });
  }
}

/**
 * Sends `bytes` in random-sized writes (so messages split at any byte), then half-closes and
 * waits for the server to end the session. Returns the server's reason, or undefined when it
 * did not end it within `timeoutMs` (a hang).
 */
export async function sendAndClose(target: FuzzTarget, chunks: Buffer[], timeoutMs = 5000): Promise<string | undefined> {
  const c = await target.rawConnect();
  for (const b of chunks) if (!c.socket.destroyed) c.socket.write(b);
  if (!c.socket.destroyed) c.socket.end();
  const reason = await target.disconnectOf(c.localPort, timeoutMs);
  c.socket.destroy();
  return reason;
}

/** Splits `b` at random points (rng in [0,1)) into up to `max` chunks. */
export function splitRandomly(b: Buffer, rng: () => number, max = 4): Buffer[] {
  const n = 1 + Math.floor(rng() * max);
  const cuts = Array.from({ length: n - 1 }, () => Math.floor(rng() * (b.length + 1))).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    out.push(b.subarray(at, c));
    at = c;
  }
  out.push(b.subarray(at));
  return out.filter((c) => c.length > 0);
}
