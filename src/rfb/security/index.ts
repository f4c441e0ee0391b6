// Security types the server offers, one handler per type (neatvnc's auth/ split).
import { NoneSecurity } from './none.js';
import type { SecureContext } from 'node:tls';
import type { PlainUsers } from './plain.js';
import { VeNCryptSecurity, VeNCryptSubtype } from './vencrypt.js';
import { AuthThrottle, VncAuthSecurity } from './vnc-auth.js';

/** The byte stream a handshake runs over. */
export interface HandshakeIO {
  /** Exactly `n` bytes; rejects when the connection goes away first. */
  read(n: number): Promise<Buffer>;
  write(data: Buffer): void;
  /**
   * Switches the connection to TLS in place (VeNCrypt). Absent where the transport cannot
   * (a WebSocket from a browser). Rejects with a one-line reason if the TLS handshake fails.
   */
  startTls?(context: SecureContext): Promise<void>;
}

export interface SecurityHandler {
  /** RFB security type number. */
  readonly type: number;
  /** For logs, e.g. "VeNCrypt X509Vnc"; may name the choice made during authenticate(). */
  readonly name?: string;
  /** Runs the type's exchange. Resolves to undefined on success, else a one-line reason. */
  authenticate(io: HandshakeIO, peer?: string): Promise<string | undefined>;
}

/** What the server has to authenticate with. */
export interface SecurityConfig {
  /** VNC Authentication password (type 2, TLSVnc, X509Vnc). */
  password?: string;
  /** Plain users (TLSPlain, X509Plain, and Plain over an already encrypted transport). */
  users?: PlainUsers;
  /** Certificate context for the X509* subtypes. */
  certificate?: SecureContext;
  /** Anonymous TLS context for the TLS* subtypes, made on first use. */
  anonymous?: () => SecureContext;
  throttle?: AuthThrottle;
}

/** What the server knows about the connection it is offering security to. */
export interface PeerSecurity {
  /** The transport is already encrypted (WSS): Plain may be offered without another TLS layer. */
  encrypted: boolean;
  /** The transport can switch to TLS inside RFB (raw TCP; not a browser's WebSocket). */
  canStartTls: boolean;
  /** Unauthenticated access (None, TLSNone, X509None) is allowed: a loopback peer, or --insecure. */
  allowUnauthenticated: boolean;
  /** The peer is on this host: TLS with nothing to protect is then not worth offering. */
  loopback: boolean;
}

/**
 * What we offer, strongest first (clients that follow the server's order take VeNCrypt):
 * VeNCrypt with X509 then anonymous TLS around Plain / VNC auth / nothing; VNC Authentication
 * for clients without VeNCrypt; None only when nothing is configured and the peer may go
 * unauthenticated. Without `peer` (tests, old callers): VNC Authentication if there is a
 * password, else None. An empty list means this peer cannot be served (say why with
 * `whyNoSecurity`).
 */
export function securityHandlers(config: SecurityConfig, peer?: PeerSecurity): SecurityHandler[] {
  const hasPassword = config.password !== undefined && config.password !== '';
  if (!peer) return hasPassword ? [new VncAuthSecurity(config.password!, config.throttle)] : [new NoneSecurity()];
  const users = config.users;
  const authConfigured = hasPassword || users !== undefined;
  const noAuth = !authConfigured && peer.allowUnauthenticated;
  const S = VeNCryptSubtype;
  const subtypes: number[] = [];
  // TLS is offered when there is something to protect, or the wire leaves this host.
  const tlsWorthIt = authConfigured || config.certificate !== undefined || !peer.loopback;
  if (peer.canStartTls && tlsWorthIt) {
    for (const [ctx, plain, vnc, none] of [
      [config.certificate, S.X509Plain, S.X509Vnc, S.X509None],
      [config.anonymous, S.TLSPlain, S.TLSVnc, S.TLSNone],
    ] as const) {
      if (!ctx) continue;
      if (users) subtypes.push(plain);
      if (hasPassword) subtypes.push(vnc);
      if (noAuth) subtypes.push(none);
    }
  }
  if (peer.encrypted && users) subtypes.push(S.Plain);
  const handlers: SecurityHandler[] = [];
  if (subtypes.length)
    handlers.push(new VeNCryptSecurity({ subtypes, ...config }));
  if (hasPassword) handlers.push(new VncAuthSecurity(config.password!, config.throttle));
  if (noAuth) handlers.push(new NoneSecurity());
  return handlers;
}

/** The one-line reason a peer gets when securityHandlers() offered it nothing. */
export function whyNoSecurity(config: SecurityConfig): string {
  const authConfigured = (config.password !== undefined && config.password !== '') || config.users !== undefined;
  if (!authConfigured) return 'this server allows unauthenticated access from its own host only';
  return 'this server accepts only user/password logins, which need an encrypted connection (VeNCrypt TLS or https/wss)';
}

export { NoneSecurity, VncAuthSecurity, VeNCryptSecurity };
