// TCP listener: one ClientSession per connection; exclusive (non-shared) clients
// disconnect the others, as the RFB spec asks.
import { createServer, type Server, type Socket } from 'node:net';
import type { Display, InputSink } from './display.js';
import { ClientSession } from './session.js';
import type { Logger } from '../source/types.js';

export interface ListenerOptions {
  host: string;
  port: number;
  password?: string;
  viewOnly: boolean;
  input?: InputSink;
  log: Logger;
  /** Session timeouts (see SessionOptions); defaults when absent. */
  handshakeTimeoutMs?: number;
  stallTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export class VncListener {
  private readonly server: Server;
  readonly sessions = new Set<ClientSession>();

  constructor(private readonly display: Display, private readonly opts: ListenerOptions) {
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.opts.log(`listener: ${err.message}`));
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: this.opts.host, port: this.opts.port });
      });
    });
  }

  private accept(socket: Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    const log = (msg: string) => this.opts.log(`client ${peer}: ${msg}`);
    const session = new ClientSession(socket, this.display, {
      password: this.opts.password,
      viewOnly: this.opts.viewOnly,
      input: this.opts.input,
      log,
      name: this.display.name,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      stallTimeoutMs: this.opts.stallTimeoutMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
    });
    this.sessions.add(session);
    log('connected');
    session.on('shared', (shared: boolean) => {
      if (shared) return;
      for (const other of this.sessions) if (other !== session) other.close('another client asked for an exclusive connection');
    });
    session.on('close', (reason: string) => {
      this.sessions.delete(session);
      log(`disconnected (${reason})`);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.close('server shutting down');
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
