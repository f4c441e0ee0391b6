// Telling protocols apart on one port. An RFB client waits for the server to speak first;
// browsers speak first: a TLS ClientHello (HTTPS/WSS) or an HTTP request line. So a port that
// serves both waits briefly for the client's first bytes before it greets in RFB.
import type { Socket } from 'node:net';

export type FirstBytes = 'http' | 'tls' | 'rfb' | 'closed';

/** How long a shared port waits for a browser's first bytes before it starts RFB. */
export const SNIFF_MS = 250;

/** TLS record type 22 (handshake), version major 3. */
function isTlsHello(b: Buffer): boolean {
  return b[0] === 0x16 && (b.length < 2 || b[1] === 0x03);
}

/** An HTTP/1.x request line starts with a method and a space ("GET /...", "HEAD /..."). */
function isHttpRequest(b: Buffer): boolean {
  return /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT) /.test(b.subarray(0, 8).toString('latin1'));
}

export function classify(first: Buffer): FirstBytes {
  if (isTlsHello(first)) return 'tls';
  if (isHttpRequest(first)) return 'http';
  return 'rfb'; // RFB clients never speak first; let the RFB handshake reject whatever this is
}

/**
 * Waits up to `timeoutMs` for the first bytes and says what they are ('rfb' when the client
 * stays silent). The socket is left paused with those bytes put back (unshift), so whoever
 * takes it over reads them first; call resume() after attaching a 'data' reader.
 */
export function sniff(socket: Socket, timeoutMs: number): Promise<FirstBytes> {
  return new Promise((resolve) => {
    const done = (kind: FirstBytes, chunk?: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      if (chunk) socket.unshift(chunk);
      resolve(kind);
    };
    const onData = (chunk: Buffer) => done(classify(chunk), chunk);
    const onClose = () => done('closed');
    const timer = setTimeout(() => done('rfb'), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onClose);
  });
}
