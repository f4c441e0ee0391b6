// WebSocket transport (the `ws` package): noVNC connects straight to us, no websockify. An
// upgrade request is checked (path, same-origin), then the socket becomes a byte Duplex that
// the RFB session reads and writes like a TCP socket.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';

/** Where the page connects (noVNC's and websockify's customary path; '/' works too). */
export const WEBSOCKET_PATHS = new Set(['/websockify', '/']);
/** Largest message a client may send; RFB client messages are small (cut text capped at 1 MiB). */
const MAX_PAYLOAD = 4 * 1024 * 1024;

/**
 * Why an upgrade request is refused, or undefined. A browser always sends Origin: another
 * site's page must not reach the VNC server through the visitor's browser (cross-site
 * WebSocket hijacking; with no password on loopback that would show the screen to any site).
 * Clients without Origin (not browsers) are allowed.
 */
export function refuseUpgrade(req: IncomingMessage): string | undefined {
  const path = (req.url ?? '/').split('?')[0]!;
  if (!WEBSOCKET_PATHS.has(path)) return `no WebSocket endpoint at ${path}`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `bad Origin '${origin}'`;
  }
  if (originHost !== req.headers.host) return `cross-origin WebSocket from ${origin} refused`;
  return undefined;
}

export class WebSocketEndpoint {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD,
    perMessageDeflate: false, // RFB encodings compress already; deflate would cost CPU twice
    // Older noVNC and websockify clients ask for 'binary'; we only ever speak binary.
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });

  /** Completes the upgrade and hands over the stream of RFB bytes. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, onStream: (stream: Duplex, ws: WebSocket) => void): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      onStream(stream, ws);
    });
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
