// A QMP client over QEMU's unix socket (`-qmp unix:PATH,server=on,wait=off`): reads the greeting,
// negotiates capabilities, then sends commands fire-and-forget. It never blocks or queues for its
// caller: while QEMU is away (not started yet, restarting) commands are dropped and the client
// reconnects with back-off; while QEMU does not read, commands are dropped rather than buffered.
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import type { Logger } from '../source/types.js';

export interface QmpClientOptions {
  log?: Logger;
  /** First reconnect delay (doubles up to maxRetryMs). Default 100 ms. */
  minRetryMs?: number;
  /** Default 5000 ms. */
  maxRetryMs?: number;
  /** Unsent bytes above which commands are dropped (QEMU is not reading). Default 64 KiB. */
  highWater?: number;
  /** A greeting not answered within this long counts as a failed connection. Default 5000 ms. */
  handshakeTimeoutMs?: number;
}

/** One parsed QMP message. */
type QmpMessage = Record<string, unknown>;

/** A line longer than this is not QMP: the peer is something else. */
const MAX_LINE = 1 << 20;

export class QmpClient extends EventEmitter {
  private socket: Socket | undefined;
  private ready = false;
  private closed = false;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private buffered = '';
  private nextId = 1;
  /** Why the last attempt failed, so a long outage is logged once, not on every retry. */
  private lastFailure: string | undefined;
  private dropsLogged = false;
  private readonly log: Logger;
  private readonly minRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly highWater: number;
  private readonly handshakeTimeoutMs: number;
  /** Commands sent / dropped since start (for tests and stats). */
  sent = 0;
  dropped = 0;
  /** QEMU's version from the greeting, e.g. '7.2.22'. */
  qemuVersion: string | undefined;

  constructor(readonly path: string, options: QmpClientOptions = {}) {
    super();
    this.log = options.log ?? (() => {});
    this.minRetryMs = options.minRetryMs ?? 100;
    this.maxRetryMs = options.maxRetryMs ?? 5000;
    this.highWater = options.highWater ?? 64 * 1024;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
    this.retryMs = this.minRetryMs;
    this.connect();
  }

  /** Capabilities negotiated: commands are being sent. */
  get connected(): boolean {
    return this.ready;
  }

  /**
   * Sends a command without waiting. Returns false when it was dropped (not connected, or QEMU
   * is not reading). Errors QEMU answers with are logged (once per distinct message).
   */
  execute(command: string, args?: Record<string, unknown>): boolean {
    const s = this.socket;
    if (!this.ready || !s || s.destroyed || s.writableLength > this.highWater) {
      this.dropped++;
      if (!this.dropsLogged) {
        this.dropsLogged = true;
        this.log(`qmp ${this.path}: ${this.ready ? 'QEMU is not reading' : 'not connected'}; input dropped until it is`);
      }
      return false;
    }
    const msg: QmpMessage = { execute: command, id: this.nextId++ };
    if (args) msg.arguments = args;
    s.write(`${JSON.stringify(msg)}\n`);
    this.sent++;
    return true;
  }

  /** Stops reconnecting and closes the socket. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.handshakeTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.ready = false;
  }

  private connect(): void {
    if (this.closed) return;
    this.buffered = '';
    const s = createConnection(this.path);
    this.socket = s;
    s.setEncoding('utf8');
    let greeted = false;
    this.handshakeTimer = setTimeout(() => this.fail(s, `no QMP greeting within ${this.handshakeTimeoutMs} ms`), this.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    s.on('data', (chunk: string) => {
      this.buffered += chunk;
      if (this.buffered.length > MAX_LINE && !this.buffered.includes('\n')) return this.fail(s, 'not a QMP socket (a line over 1 MiB)');
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (!line) continue;
        let msg: QmpMessage;
        try {
          msg = JSON.parse(line) as QmpMessage;
        } catch {
          return this.fail(s, 'not a QMP socket (a line that is not JSON)');
        }
        if (typeof msg !== 'object' || msg === null) return this.fail(s, 'not a QMP socket (a message that is not an object)');
        if (!greeted) {
          if (!('QMP' in msg)) return this.fail(s, 'not a QMP socket (no greeting)');
          greeted = true;
          const v = (msg.QMP as { version?: { qemu?: { major?: number; minor?: number; micro?: number } } })?.version?.qemu;
          if (v) this.qemuVersion = `${v.major}.${v.minor}.${v.micro}`;
          s.write(`${JSON.stringify({ execute: 'qmp_capabilities', id: 0 })}\n`);
          continue;
        }
        this.onMessage(s, msg);
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => this.fail(s, err.code === 'ENOENT' ? 'no such socket (QEMU not running?)' : err.code === 'ECONNREFUSED' ? 'connection refused (QEMU not running?)' : err.message));
    s.on('close', () => this.fail(s, 'QEMU closed the connection'));
  }

  private onMessage(s: Socket, msg: QmpMessage): void {
    if ('event' in msg) {
      this.emit('event', msg);
      return;
    }
    if (msg.id === 0) {
      if ('error' in msg) return this.fail(s, `qmp_capabilities refused: ${describeError(msg.error)}`);
      clearTimeout(this.handshakeTimer);
      this.ready = true;
      this.retryMs = this.minRetryMs;
      this.dropsLogged = false;
      this.lastFailure = undefined;
      this.log(`qmp ${this.path}: connected${this.qemuVersion ? ` (QEMU ${this.qemuVersion})` : ''}; forwarding keyboard and pointer`);
      this.emit('connect');
      return;
    }
    if ('error' in msg) {
      const why = describeError(msg.error);
      this.emit('command-error', why);
      if (why !== this.lastCommandError) {
        this.lastCommandError = why;
        this.log(`qmp ${this.path}: QEMU refused a command: ${why}`);
      }
    }
  }

  private lastCommandError: string | undefined;

  /** Drops this connection attempt (once) and schedules the next with back-off. */
  private fail(s: Socket, reason: string): void {
    if (this.socket !== s) return; // an older socket's late event
    const wasReady = this.ready;
    this.ready = false;
    this.socket = undefined;
    clearTimeout(this.handshakeTimer);
    s.destroy();
    if (this.closed) return;
    if (wasReady) {
      this.log(`qmp ${this.path}: ${reason}; reconnecting`);
      this.emit('disconnect', reason);
    } else if (reason !== this.lastFailure) {
      this.log(`qmp ${this.path}: ${reason}; retrying`);
    }
    this.lastFailure = reason;
    const delay = wasReady ? this.minRetryMs : this.retryMs;
    this.retryMs = Math.min(this.maxRetryMs, this.retryMs * 2);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }
}

function describeError(e: unknown): string {
  const err = e as { class?: string; desc?: string };
  return `${err?.desc ?? 'unknown error'}${err?.class ? ` (${err.class})` : ''}`;
}
