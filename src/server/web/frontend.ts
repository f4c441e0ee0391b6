// The browser side of the server: HTTP(S) for the viewer page and WebSocket (WS/WSS) for its
// RFB stream. It serves sockets handed over by the RFB port (same-port mode, after sniffing)
// or its own port (--web HOST:PORT). With a certificate, plain HTTP only redirects to HTTPS.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { Logger } from '../../source/types.js';
import { sniff, type FirstBytes } from '../transport/sniff.js';
import { upgradeToTls } from '../transport/tls.js';
import { refuseUpgrade, WebSocketEndpoint } from '../transport/websocket.js';
import { SECURITY_HEADERS, StaticFiles } from './static.js';

/** A browser connection that became an RFB byte stream. */
export interface WebStreamInfo {
  /** Remote address (for throttles and policy). */
  address: string | undefined;
  /** "address:port" for logs. */
  label: string;
  /** WSS: the stream is already encrypted. */
  encrypted: boolean;
}

export interface WebFrontendOptions {
  /** Certificate context: HTTPS/WSS; without it only HTTP/WS. */
  certificate?: SecureContext;
  onStream: (stream: Duplex, info: WebStreamInfo) => void;
  log: Logger;
}

/** How long a connection to the web port may stay silent before it is dropped. */
const IDLE_MS = 30_000;

export class WebFrontend {
  readonly files = new StaticFiles();
  private readonly http: HttpServer;
  private readonly websocket = new WebSocketEndpoint();
  private server: NetServer | undefined;
  private readonly sockets = new Set<Duplex>();

  constructor(private readonly opts: WebFrontendOptions) {
    this.http = createHttpServer((req, res) => this.request(req, res));
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 10_000;
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.http.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Takes over a connection whose first bytes were sniffed (paused, bytes put back). */
  handleSocket(socket: Socket, kind: Exclude<FirstBytes, 'rfb' | 'closed'>): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {}); // an HTTP client vanishing is not worth a log line
    if (kind === 'http') {
      this.http.emit('connection', socket);
      socket.resume();
      return;
    }
    if (!this.opts.certificate) {
      socket.destroy(); // a TLS hello, but no certificate to answer with
      return;
    }
    const { socket: tls, secure } = upgradeToTls(socket, this.opts.certificate);
    tls.on('error', () => {});
    secure.then(
      () => this.http.emit('connection', tls),
      () => tls.destroy(),
    );
  }

  /** Serves its own port (no RFB there): waits for the browser's first bytes, however long. */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createNetServer((socket) => {
      socket.setNoDelay(true);
      void sniff(socket, IDLE_MS).then((kind) => {
        if (kind === 'http' || kind === 'tls') this.handleSocket(socket, kind);
        else socket.destroy(); // silent, or not a browser
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.log(`web listener: ${err.message}`));
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port });
      });
    });
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const encrypted = Boolean((req.socket as { encrypted?: boolean }).encrypted);
    if (this.opts.certificate && !encrypted) {
      // A certificate means HTTPS: never serve the page (or its password form) in the clear.
      const host = req.headers.host ?? 'localhost';
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      res.writeHead(308, { Location: `https://${host}${req.url ?? '/'}`, 'Content-Type': 'text/plain; charset=utf-8' }).end('use https\n');
      return;
    }
    if (encrypted) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    this.files.handle(req, res);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const encrypted = Boolean((req.socket as { encrypted?: boolean }).encrypted);
    const address = req.socket.remoteAddress;
    const label = `${address}:${req.socket.remotePort} (${encrypted ? 'wss' : 'ws'})`;
    let refusal = refuseUpgrade(req);
    if (!refusal && this.opts.certificate && !encrypted) refusal = 'WebSocket without TLS refused: use wss://';
    if (refusal) {
      this.opts.log(`client ${label}: ${refusal}`);
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${refusal}\n`);
      return;
    }
    this.websocket.upgrade(req, socket, head, (stream) => {
      const raw = req.socket;
      raw.setNoDelay(true);
      this.opts.onStream(stream, { address, label, encrypted });
    });
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.websocket.close();
    for (const s of this.sockets) s.destroy();
    this.http.close();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
