// TCP listener: one ClientSession per connection; exclusive (non-shared) clients
// disconnect the others, as the RFB spec asks. Each connection is first admitted by the
// access policy and offered the security types that fit its transport; with a web frontend
// on the same port, connections that speak first are handed to it.
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { securityHandlers, whyNoSecurity, type SecurityConfig } from '../rfb/security/index.js';
import type { PlainUsers } from '../rfb/security/plain.js';
import { AccessPolicy, isLoopbackAddress } from './access-policy.js';
import { sniff, SNIFF_MS } from './transport/sniff.js';
import { anonymousTlsContext } from './transport/tls.js';
import type { WebFrontend } from './web/frontend.js';
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
  /** Plain users (VeNCrypt TLSPlain/X509Plain, Plain over WSS). */
  users?: PlainUsers;
  /** Certificate for VeNCrypt X509* subtypes. */
  certificate?: SecureContext;
  /** Connection limit, guessing throttle, unauthenticated access; a default policy if absent. */
  policy?: AccessPolicy;
  /** Serve the web viewer on this port too: connections that speak first go to it. */
  web?: WebFrontend;
}

/** How a connection reached us: decides which security types make sense for it. */
export interface StreamInfo {
  address: string | undefined;
  /** "address:port" (and transport) for logs. */
  label: string;
  /** Already encrypted underneath RFB (WSS). */
  encrypted: boolean;
  /** Can switch to TLS inside RFB (VeNCrypt): raw TCP only. */
  canStartTls: boolean;
}

export class VncListener {
  private readonly server: Server;
  readonly sessions = new Set<ClientSession>();

  readonly policy: AccessPolicy;
  private readonly security: SecurityConfig;

  constructor(private readonly display: Display, private readonly opts: ListenerOptions) {
    this.server = createServer((socket) => this.accept(socket));
    this.policy = opts.policy ?? new AccessPolicy();
    let anonymous: SecureContext | undefined;
    this.security = {
      password: opts.password,
      users: opts.users,
      certificate: opts.certificate,
      anonymous: () => (anonymous ??= anonymousTlsContext()),
      throttle: this.policy.throttle,
    };
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
    socket.setNoDelay(true);
    const info: StreamInfo = {
      address: socket.remoteAddress,
      label: `${socket.remoteAddress}:${socket.remotePort}`,
      encrypted: false,
      canStartTls: true,
    };
    const web = this.opts.web;
    if (!web) {
      this.attach(socket, info);
      return;
    }
    // Same port for browsers: they speak first; RFB clients wait for our greeting.
    socket.on('error', () => {});
    void sniff(socket, SNIFF_MS).then((kind) => {
      if (kind === 'closed') socket.destroy();
      else if (kind === 'rfb') {
        this.attach(socket, info);
        socket.resume();
      } else web.handleSocket(socket, kind);
    });
  }

  /** Serves RFB over an accepted stream: TCP here, or a WebSocket from the web frontend. */
  attach(socket: Duplex, info: StreamInfo): ClientSession {
    const peer = info.label;
    const log = (msg: string) => this.opts.log(`client ${peer}: ${msg}`);
    const admission = this.policy.admit(info.address);
    const security = securityHandlers(this.security, {
      encrypted: info.encrypted,
      canStartTls: info.canStartTls,
      allowUnauthenticated: this.policy.allowsUnauthenticated(info.address),
      loopback: isLoopbackAddress(info.address),
    });
    const refusal = !admission.admitted
      ? admission.reason
      : security.length === 0
        ? whyNoSecurity(this.security)
        : undefined;
    const session = new ClientSession(socket, this.display, {
      security,
      refusal,
      peer: info.address,
      password: this.opts.password,
      viewOnly: this.opts.viewOnly,
      input: this.opts.input,
      log,
      name: this.display.name,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs ?? this.policy.handshakeTimeoutMs,
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
      if (admission.admitted) admission.release();
      this.sessions.delete(session);
      log(`disconnected (${reason})`);
    });
    return session;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.close('server shutting down');
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
