// Server side of the RFB handshake: ProtocolVersion, security negotiation, SecurityResult,
// ClientInit → ServerInit. An async function over a small byte reader, so the session only
// feeds it bytes and learns the outcome; no session state lives here.
import { SecurityResult, SecurityType } from './constants.js';
import { ByteQueue, ProtocolError } from './reader.js';
import type { SecureContext } from 'node:tls';
import type { HandshakeIO, SecurityHandler } from './security/index.js';

export type RfbVersion = '3.3' | '3.7' | '3.8';

export interface HandshakeResult {
  version: RfbVersion;
  securityType: number;
  /** What was used, for logs ("VNC authentication", "VeNCrypt X509Plain (user alice)"). */
  securityName: string;
  /** ClientInit's shared flag: false asks the server to disconnect every other client. */
  shared: boolean;
}

export interface HandshakeOptions {
  /** Offered in this order; for 3.3 (where the server picks) the first None or VNC auth. */
  security: SecurityHandler[];
  /** Remote address, for password-guessing throttles. */
  peer?: string;
  /**
   * Set when this client may not connect at all (connection limit, blocked address, nothing
   * it may use): the reason is sent right after the version exchange, before any security
   * work, and the handshake fails with it.
   */
  refusal?: string;
  /** The ServerInit message, built when it is sent (the surface may change meanwhile). */
  serverInit: () => Buffer;
}

const SECURITY_NAMES: Record<number, string> = {
  [SecurityType.None]: 'no authentication',
  [SecurityType.VncAuth]: 'VNC authentication',
};

/** The server always announces 3.8; clients answer with what they speak. */
export const SERVER_VERSION = Buffer.from('RFB 003.008\n', 'latin1');

/**
 * The version to speak with a client that sent `msg` (12 bytes). rfbproto: 3.3, 3.7, 3.8;
 * other 3.x below 7 (3.4, 3.5 from old clients) mean 3.3, above 8 (3.889 from macOS) 3.8.
 */
export function negotiateVersion(msg: Buffer): RfbVersion {
  const text = msg.toString('latin1');
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(text);
  if (!m) throw new ProtocolError(`not an RFB ProtocolVersion: ${JSON.stringify(text)}`);
  const major = Number(m[1]), minor = Number(m[2]);
  if (major !== 3) throw new ProtocolError(`unsupported RFB version ${major}.${minor} (this server speaks 3.3-3.8)`);
  return minor >= 8 ? '3.8' : minor === 7 ? '3.7' : '3.3';
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

/** A length-prefixed reason string (3.7+ connection failure, 3.8 SecurityResult failure). */
function reasonString(reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  return Buffer.concat([u32(text.length), text]);
}

/**
 * Runs the handshake. On success ServerInit has been written. On failure whatever the
 * client should be told has been written and a ProtocolError says why (one line).
 */
export async function serverHandshake(io: HandshakeIO, opts: HandshakeOptions): Promise<HandshakeResult> {
  if (opts.security.length === 0 && opts.refusal === undefined) throw new Error('serverHandshake: no security types to offer');
  io.write(SERVER_VERSION);
  const version = negotiateVersion(await io.read(12));

  if (opts.refusal !== undefined) {
    // rfbproto: 3.3 gets security type 0 (a u32), 3.7+ an empty list (a u8 0); then the reason.
    io.write(Buffer.concat([version === '3.3' ? u32(SecurityType.Invalid) : Buffer.from([0]), reasonString(opts.refusal)]));
    throw new ProtocolError(opts.refusal);
  }

  let handler: SecurityHandler;
  if (version === '3.3') {
    // 3.3 knows only None and VNC Authentication; the server picks.
    const usable = opts.security.find((s) => s.type === SecurityType.None || s.type === SecurityType.VncAuth);
    if (!usable) {
      const reason = 'RFB 3.3 clients cannot use the security types this server requires';
      io.write(Buffer.concat([u32(SecurityType.Invalid), reasonString(reason)]));
      throw new ProtocolError(reason);
    }
    handler = usable;
    io.write(u32(handler.type));
  } else {
    io.write(Buffer.from([opts.security.length, ...opts.security.map((s) => s.type)]));
    const chosen = (await io.read(1))[0]!;
    const found = opts.security.find((s) => s.type === chosen);
    if (!found) {
      const reason = `client chose security type ${chosen}, which was not offered`;
      if (version === '3.8') io.write(Buffer.concat([u32(SecurityResult.Failed), reasonString(reason)]));
      throw new ProtocolError(reason);
    }
    handler = found;
  }

  const failure = await handler.authenticate(io, opts.peer);
  // rfbproto: 3.3 and 3.7 have no SecurityResult after None; 3.8 always has one.
  const sendsResult = version === '3.8' || handler.type !== SecurityType.None;
  if (failure !== undefined) {
    if (sendsResult)
      io.write(version === '3.8' ? Buffer.concat([u32(SecurityResult.Failed), reasonString(failure)]) : u32(SecurityResult.Failed));
    throw new ProtocolError(failure);
  }
  if (sendsResult) io.write(u32(SecurityResult.Ok));

  const shared = (await io.read(1))[0]! !== 0;
  io.write(opts.serverInit());
  const securityName = handler.name ?? SECURITY_NAMES[handler.type] ?? `security type ${handler.type}`;
  return { version, securityType: handler.type, securityName, shared };
}

/**
 * HandshakeIO fed by pushed chunks: `read(n)` resolves once n bytes have arrived. Bytes past
 * the handshake (a client may pipeline its first messages) are handed over by `takeRest()`.
 */
export class PushedBytes {
  private readonly queue = new ByteQueue();
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;

  /**
   * `startTls`, when the transport can, switches the connection to TLS; it is called only
   * when no client bytes are waiting (a client starts TLS only after the server's go-ahead).
   */
  constructor(
    readonly write: (data: Buffer) => void,
    private readonly switchToTls?: (context: SecureContext) => Promise<void>,
  ) {
    if (!switchToTls) this.startTls = undefined;
  }

  startTls? = (context: SecureContext): Promise<void> => {
    if (this.queue.length > 0) return Promise.reject(new ProtocolError('client sent data before the TLS handshake'));
    return this.switchToTls!(context);
  };

  push(chunk: Buffer): void {
    this.queue.push(chunk);
    const w = this.waiter;
    if (w && this.queue.length >= w.n) {
      this.waiter = undefined;
      w.resolve(this.take(w.n));
    }
  }

  read(n: number): Promise<Buffer> {
    if (this.error) return Promise.reject(this.error);
    if (this.waiter) return Promise.reject(new Error('PushedBytes: one read at a time'));
    if (this.queue.length >= n) return Promise.resolve(this.take(n));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  /** The connection is gone: the pending and every later read reject with `err`. */
  fail(err: Error): void {
    this.error = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  takeRest(): Buffer {
    return this.queue.takeAll();
  }

  private take(n: number): Buffer {
    const b = Buffer.from(this.queue.peek(n));
    this.queue.consume(n);
    return b;
  }
}
