// TLS plumbing: the two kinds of server context VeNCrypt needs (anonymous for TLS*, the
// certificate for X509*), and upgrading an already-connected stream to TLS in place.
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';

export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

/**
 * Anonymous (unauthenticated) TLS for VeNCrypt's TLSNone/TLSVnc/TLSPlain: no certificate,
 * anonymous (EC)DH suites, which exist only up to TLS 1.2 and only at OpenSSL security level 0.
 */
export function anonymousTlsContext(): SecureContext {
  return createSecureContext({ ciphers: 'aNULL:!eNULL:@SECLEVEL=0', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', dhparam: 'auto' });
}

/** X509 TLS with the server's certificate (X509* subtypes, HTTPS/WSS). Throws a one-line error for bad PEM. */
export function certificateTlsContext(creds: TlsCredentials): SecureContext {
  try {
    return createSecureContext({ cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' });
  } catch (err) {
    throw new Error(`certificate or key not usable: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Runs the server side of a TLS handshake over `stream` (a TCP socket or any Duplex). Resolves
 * with the encrypted socket once the handshake is complete; rejects with a one-line reason when
 * the peer gives up, sends garbage or cannot agree on a cipher.
 */
export function upgradeToTls(stream: Duplex, secureContext: SecureContext): { socket: TLSSocket; secure: Promise<void> } {
  const socket = new TLSSocket(stream, { isServer: true, secureContext });
  const secure = new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      reject(new Error(`TLS handshake failed: ${why}`));
    };
    // OpenSSL errors carry a short `reason` ("wrong version number"); the message is a long dump.
    const onError = (err: Error & { reason?: string }) => fail(err.reason ?? err.message.split('\n')[0]!);
    const onClose = () => fail('connection closed');
    const onSecure = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('secure', onSecure);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('secure', onSecure);
  });
  return { socket, secure };
}
