// Who may connect, and how long they may take: the connection limit, the per-address
// password-guessing block (TigerVNC's blacklist: the AuthThrottle shared with VNC auth and
// Plain), unauthenticated access only from this host unless --insecure, and the time a
// connection gets to authenticate. The listener asks once per connection; the security
// handlers consult the same throttle per attempt.
import { AuthThrottle } from '../rfb/security/vnc-auth.js';

export interface AccessPolicyOptions {
  /** Connections served at once (authenticating or not); more are refused with a reason. */
  maxConnections: number;
  /** Allow unauthenticated access from other hosts (--insecure). */
  insecure: boolean;
  /** Time to finish the RFB handshake, authentication included. */
  handshakeTimeoutMs: number;
  throttle: AuthThrottle;
}

export const DEFAULT_MAX_CONNECTIONS = 16;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv4-mapped IPv6 (::ffff:127.x.y.z). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  return a === '::1' || a === 'localhost' || /^127\./.test(a) || /^::ffff:127\./.test(a);
}

export type Admission = { admitted: true; release: () => void } | { admitted: false; reason: string };

export class AccessPolicy {
  readonly throttle: AuthThrottle;
  readonly maxConnections: number;
  readonly insecure: boolean;
  readonly handshakeTimeoutMs: number;
  private open = 0;

  constructor(options: Partial<AccessPolicyOptions> = {}) {
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.insecure = options.insecure ?? false;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.throttle = options.throttle ?? new AuthThrottle();
  }

  /** Connections admitted and not yet released. */
  get connections(): number {
    return this.open;
  }

  /**
   * A new RFB connection from `address`. Refused when the server is full or the address is
   * blocked for guessing passwords: such a client gets the reason before any security
   * exchange (no challenge, no TLS, no hashing work). Admitted ones must call release() once.
   */
  admit(address: string | undefined): Admission {
    const blocked = this.throttle.refused(address ?? 'unknown');
    if (blocked) return { admitted: false, reason: blocked };
    if (this.open >= this.maxConnections)
      return { admitted: false, reason: `server busy: ${this.maxConnections} connections already open` };
    this.open++;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.open--;
      },
    };
  }

  /** Whether a peer may use None / TLSNone / X509None (when no password is configured). */
  allowsUnauthenticated(address: string | undefined): boolean {
    return this.insecure || isLoopbackAddress(address);
  }
}
