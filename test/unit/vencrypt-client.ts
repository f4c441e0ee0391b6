// A minimal scripted RFB client for the security tests: reads exactly what it asks for from a
// TCP socket, and can switch that socket to TLS in place (VeNCrypt) the way real clients do.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { afterEach, expect } from 'vitest';
import { VncListener, type ListenerOptions } from '../../src/server/listener.js';
import { FakeDisplay } from '../helpers/fake-display.js';

export class ScriptedClient {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;

  constructor(private stream: Duplex) {
    this.listen(stream);
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<ScriptedClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, localAddress }, () => resolve(new ScriptedClient(s)));
      s.once('error', reject);
    });
  }

  private listen(stream: Duplex): void {
    stream.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    stream.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    stream.on('error', () => {});
  }

  /** Exactly n bytes; rejects if the server closes first (with what had arrived). */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`closed after ${this.buf.length}/${n} bytes: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((r) => (this.waiter = r));
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  async readU32(): Promise<number> {
    return (await this.read(4)).readUInt32BE(0);
  }

  async readReason(): Promise<string> {
    return (await this.read(await this.readU32())).toString('utf8');
  }

  write(data: Buffer | number[] | string): void {
    this.stream.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data as Buffer));
  }

  /** Version exchange (3.8); resolves with the offered security types. */
  async hello(): Promise<number[]> {
    expect((await this.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    this.write('RFB 003.008\n');
    const n = (await this.read(1))[0]!;
    return [...(await this.read(n))];
  }

  /** The TLS client handshake over the same socket. */
  async startTls(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    const raw = this.stream;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const socket = tls.connect({ socket: raw as net.Socket, ...options });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    this.stream = socket;
    this.listen(socket);
    return socket;
  }

  end(): void {
    this.stream.destroy();
  }
}

/** A VncListener on a FakeDisplay on an ephemeral port; logs collected. */
export async function startListener(opts: Partial<ListenerOptions> & { host?: string }): Promise<{ listener: VncListener; port: number; logs: string[]; display: FakeDisplay }> {
  const logs: string[] = [];
  const display = new FakeDisplay(64, 48);
  display.fillPattern(3);
  const listener = new VncListener(display, { host: '127.0.0.1', port: 0, viewOnly: true, log: (m) => logs.push(m), ...opts });
  const { port } = await listener.listen();
  return { listener, port, logs, display };
}

/** Resolves once `pred` holds (polling the logs or state), or rejects after `ms` saying what it waited for. */
export async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * For a test file: serve() starts a listener (startListener) and connect() opens a
 * ScriptedClient; after each test the clients are ended and the listener closed.
 */
export function perTestListener(): {
  serve: typeof startListener;
  connect: (port: number, host?: string, localAddress?: string) => Promise<ScriptedClient>;
} {
  let running: VncListener | undefined;
  const clients: ScriptedClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end();
    await running?.close();
    running = undefined;
  });
  return {
    async serve(opts) {
      const s = await startListener(opts);
      running = s.listener;
      return s;
    },
    async connect(port, host, localAddress) {
      const c = await ScriptedClient.connect(port, host, localAddress);
      clients.push(c);
      return c;
    },
  };
}
