// Security types the server offers, one handler per type (neatvnc's auth/ split).
import { NoneSecurity } from './none.js';
import { VncAuthSecurity } from './vnc-auth.js';

/** The byte stream a handshake runs over. */
export interface HandshakeIO {
  /** Exactly `n` bytes; rejects when the connection goes away first. */
  read(n: number): Promise<Buffer>;
  write(data: Buffer): void;
}

export interface SecurityHandler {
  /** RFB security type number. */
  readonly type: number;
  /** Runs the type's exchange. Resolves to undefined on success, else a one-line reason. */
  authenticate(io: HandshakeIO, peer?: string): Promise<string | undefined>;
}

/** What we offer: VNC Authentication when there is a password, else None. */
export function securityHandlers(options: { password?: string }): SecurityHandler[] {
  return options.password !== undefined && options.password !== ''
    ? [new VncAuthSecurity(options.password)]
    : [new NoneSecurity()];
}

export { NoneSecurity, VncAuthSecurity };
