// VNC Authentication (security type 2): DES of a random 16-byte challenge with the password
// as key. Node 20's OpenSSL refuses DES, so the cipher comes from des.js.
import { createRequire } from 'node:module';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { SecurityType } from '../constants.js';
import type { HandshakeIO, SecurityHandler } from './index.js';

interface DesCipher {
  update(data: Buffer): number[];
}
interface DesJs {
  DES: { create(options: { type: 'encrypt'; key: Buffer; padding: boolean }): DesCipher };
}
const { DES } = createRequire(import.meta.url)('des.js') as DesJs;

/**
 * The DES key VNC derives from a password: its first 8 bytes (UTF-8), zero-padded, each
 * byte's bits reversed (VNC takes the lowest bit of each key byte as DES's first bit).
 */
export function vncAuthKey(password: string): Buffer {
  const key = Buffer.alloc(8);
  Buffer.from(password, 'utf8').copy(key, 0, 0, 8);
  for (let i = 0; i < 8; i++) {
    let b = key[i]!, r = 0;
    for (let bit = 0; bit < 8; bit++, b >>= 1) r = (r << 1) | (b & 1);
    key[i] = r;
  }
  return key;
}

/** The response a client holding `password` sends for `challenge` (two ECB blocks). */
export function vncAuthResponse(password: string, challenge: Buffer): Buffer {
  const cipher = DES.create({ type: 'encrypt', key: vncAuthKey(password), padding: false });
  return Buffer.from(cipher.update(challenge));
}

/**
 * Slows down password guessing, per peer address, the way TigerVNC's blacklist does: after
 * `threshold` failures in a row an address is refused for `blockMs`, doubling each time it
 * fails again right after a block. A success clears the record.
 */
export class AuthThrottle {
  private readonly peers = new Map<string, { failures: number; blockedUntil: number; blockMs: number }>();
  constructor(
    private readonly threshold = 5,
    private readonly initialBlockMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Why `peer` may not try now, or undefined. */
  refused(peer: string): string | undefined {
    const p = this.peers.get(peer);
    if (!p || p.blockedUntil <= this.now()) return undefined;
    return `too many authentication failures; try again in ${Math.ceil((p.blockedUntil - this.now()) / 1000)} s`;
  }

  failed(peer: string): void {
    // Bounded memory when guesses come from many addresses: forget those not blocked now.
    if (this.peers.size >= 4096)
      for (const [k, v] of this.peers) if (v.blockedUntil <= this.now()) this.peers.delete(k);
    const p = this.peers.get(peer) ?? { failures: 0, blockedUntil: 0, blockMs: this.initialBlockMs / 2 };
    p.failures++;
    if (p.failures >= this.threshold) {
      p.blockMs = Math.min(p.blockMs * 2, 3_600_000);
      p.blockedUntil = this.now() + p.blockMs;
      p.failures = this.threshold - 1; // the next failure after the block blocks again
    }
    this.peers.set(peer, p);
  }

  succeeded(peer: string): void {
    this.peers.delete(peer);
  }
}

/** One throttle for the whole process: guesses spread over connections still count. */
export const defaultAuthThrottle = new AuthThrottle();

export class VncAuthSecurity implements SecurityHandler {
  readonly type = SecurityType.VncAuth;
  constructor(
    private readonly password: string,
    private readonly throttle: AuthThrottle = defaultAuthThrottle,
  ) {}

  async authenticate(io: HandshakeIO, peer = 'unknown'): Promise<string | undefined> {
    const challenge = randomBytes(16);
    io.write(challenge);
    const response = await io.read(16);
    // Asked and answered even when refused, so the client sees a normal failure.
    const refused = this.throttle.refused(peer);
    if (refused) return refused;
    const expected = vncAuthResponse(this.password, challenge);
    if (timingSafeEqual(expected, response)) {
      this.throttle.succeeded(peer);
      return undefined;
    }
    this.throttle.failed(peer);
    return 'authentication failed';
  }
}
