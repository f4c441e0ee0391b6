// VeNCrypt (security type 19, version 0.2; rfbproto and TigerVNC's SSecurityVeNCrypt/
// SSecurityTLS): version exchange, subtype list, the client's choice, then for TLS subtypes a
// U8 1 and a TLS handshake on the same connection, then the inner authentication (None, VNC
// Authentication or Plain) over TLS. The SecurityResult that follows is the handshake's.
import type { SecureContext } from 'node:tls';
import { SecurityType } from '../constants.js';
import { ProtocolError } from '../reader.js';
import type { HandshakeIO, SecurityHandler } from './index.js';
import { PlainAuth, type PlainUsers } from './plain.js';
import { AuthThrottle, defaultAuthThrottle, VncAuthSecurity } from './vnc-auth.js';

export const VeNCryptSubtype = {
  Plain: 256,
  TLSNone: 257,
  TLSVnc: 258,
  TLSPlain: 259,
  X509None: 260,
  X509Vnc: 261,
  X509Plain: 262,
} as const;

const SUBTYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(VeNCryptSubtype).map(([k, v]) => [v, k]));

export function veNCryptSubtypeName(subtype: number): string {
  return SUBTYPE_NAMES[subtype] ?? `subtype ${subtype}`;
}

type Layer = 'none' | 'anonymous' | 'x509';
type Inner = 'none' | 'vnc' | 'plain';

function describe(subtype: number): { layer: Layer; inner: Inner } {
  switch (subtype) {
    case VeNCryptSubtype.Plain: return { layer: 'none', inner: 'plain' };
    case VeNCryptSubtype.TLSNone: return { layer: 'anonymous', inner: 'none' };
    case VeNCryptSubtype.TLSVnc: return { layer: 'anonymous', inner: 'vnc' };
    case VeNCryptSubtype.TLSPlain: return { layer: 'anonymous', inner: 'plain' };
    case VeNCryptSubtype.X509None: return { layer: 'x509', inner: 'none' };
    case VeNCryptSubtype.X509Vnc: return { layer: 'x509', inner: 'vnc' };
    case VeNCryptSubtype.X509Plain: return { layer: 'x509', inner: 'plain' };
    default: throw new Error(`unknown VeNCrypt subtype ${subtype}`);
  }
}

export interface VeNCryptOptions {
  /** Offered in this order (clients take the first they support). */
  subtypes: number[];
  /** Anonymous TLS context (TLS* subtypes), made on first use. */
  anonymous?: () => SecureContext;
  /** Certificate TLS context (X509* subtypes). */
  certificate?: SecureContext;
  /** VNC Authentication password (TLSVnc, X509Vnc). */
  password?: string;
  /** Plain users (Plain, TLSPlain, X509Plain). */
  users?: PlainUsers;
  throttle?: AuthThrottle;
}

/** One instance per connection: it remembers what the client chose, for the log. */
export class VeNCryptSecurity implements SecurityHandler {
  readonly type = SecurityType.VeNCrypt;
  private chosen: number | undefined;
  private plainUser: string | undefined;

  constructor(private readonly opts: VeNCryptOptions) {
    if (opts.subtypes.length === 0 || opts.subtypes.length > 255) throw new Error('VeNCrypt: 1-255 subtypes needed');
    for (const s of opts.subtypes) {
      const { layer, inner } = describe(s);
      if (layer === 'x509' && !opts.certificate) throw new Error(`VeNCrypt: ${veNCryptSubtypeName(s)} needs a certificate`);
      if (layer === 'anonymous' && !opts.anonymous) throw new Error(`VeNCrypt: ${veNCryptSubtypeName(s)} needs an anonymous TLS context`);
      if (inner === 'vnc' && !opts.password) throw new Error(`VeNCrypt: ${veNCryptSubtypeName(s)} needs a password`);
      if (inner === 'plain' && !opts.users) throw new Error(`VeNCrypt: ${veNCryptSubtypeName(s)} needs a users file`);
    }
  }

  /** "VeNCrypt X509Plain (user alice)" once chosen. */
  get name(): string {
    if (this.chosen === undefined) return 'VeNCrypt';
    return `VeNCrypt ${veNCryptSubtypeName(this.chosen)}${this.plainUser ? ` (user ${this.plainUser})` : ''}`;
  }

  async authenticate(io: HandshakeIO, peer?: string): Promise<string | undefined> {
    io.write(Buffer.from([0, 2]));
    const [major, minor] = await io.read(2);
    if (major !== 0 || minor !== 2) {
      io.write(Buffer.from([0xff]));
      throw new ProtocolError(`client speaks VeNCrypt ${major}.${minor}; this server speaks 0.2`);
    }
    io.write(Buffer.from([0]));
    const list = Buffer.alloc(1 + 4 * this.opts.subtypes.length);
    list[0] = this.opts.subtypes.length;
    this.opts.subtypes.forEach((s, i) => list.writeUInt32BE(s, 1 + 4 * i));
    io.write(list);

    const chosen = (await io.read(4)).readUInt32BE(0);
    if (!this.opts.subtypes.includes(chosen)) return `client chose VeNCrypt subtype ${chosen}, which was not offered`;
    this.chosen = chosen;
    const { layer, inner } = describe(chosen);

    if (layer !== 'none') {
      if (!io.startTls) throw new Error('this connection cannot switch to TLS');
      const context = layer === 'x509' ? this.opts.certificate! : this.opts.anonymous!();
      io.write(Buffer.from([1])); // "go ahead": the client starts its TLS handshake now
      await io.startTls(context);
    }

    const throttle = this.opts.throttle ?? defaultAuthThrottle;
    switch (inner) {
      case 'none':
        return undefined;
      case 'vnc':
        return new VncAuthSecurity(this.opts.password!, throttle).authenticate(io, peer);
      case 'plain': {
        const plain = new PlainAuth(this.opts.users!, throttle);
        const failure = await plain.authenticate(io, peer);
        this.plainUser = plain.user;
        return failure;
      }
    }
  }
}
