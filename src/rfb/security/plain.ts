// Plain user/password authentication (VeNCrypt subtypes Plain, TLSPlain, X509Plain): the
// client sends u32 user length, u32 password length, then both strings. Passwords are checked
// against a file of salted scrypt hashes, never stored or compared in plaintext.
//
// File format, one user per line (blank lines and '#' comments ignored):
//   NAME:scrypt$N$r$p$SALT_BASE64$HASH_BASE64
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { HandshakeIO } from './index.js';
import { AuthThrottle, defaultAuthThrottle } from './vnc-auth.js';

/** Longest user name or password read from a client (bytes); more is a protocol abuse. */
const MAX_CREDENTIAL_BYTES = 1024;
const HASH_BYTES = 32;
/** N=2^15, r=8: 32 MiB and 0.1-0.2 s per check on this 2-core machine; parameters are stored per line. */
export const DEFAULT_SCRYPT = { N: 32768, r: 8, p: 1 } as const;

interface UserRecord {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function scryptAsync(password: Buffer | string, salt: Buffer, length: number, opts: ScryptOptions): Promise<Buffer> {
  // Runs on libuv's thread pool: a burst of guesses never stalls the event loop.
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, { ...opts, maxmem: 256 * opts.N! * opts.r! }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** One line of a users file for `user` with `password` (fresh random salt). */
export async function hashUserLine(user: string, password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  checkUserName(user);
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, HASH_BYTES, params);
  return `${user}:scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function checkUserName(user: string): void {
  if (user.length === 0 || /[:\s]/.test(user)) throw new Error(`user name '${user}' must be non-empty, without ':' or spaces`);
}

/** The users of a Plain password file. */
export class PlainUsers {
  private constructor(private readonly users: Map<string, UserRecord>) {}

  get size(): number {
    return this.users.size;
  }

  /** Parses a users file; throws an Error naming the first bad line. */
  static parse(text: string, source = 'users file'): PlainUsers {
    const users = new Map<string, UserRecord>();
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${source} line ${i + 1}`;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`${where}: expected NAME:scrypt$N$r$p$SALT$HASH`);
      const name = line.slice(0, colon);
      const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line.slice(colon + 1));
      if (!m) throw new Error(`${where}: not a scrypt hash (make lines with 'vgpu-vnc passwd'; plaintext passwords are not accepted)`);
      const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (N < 2 || (N & (N - 1)) !== 0 || N > 1 << 20 || r < 1 || r > 32 || p < 1 || p > 16)
        throw new Error(`${where}: scrypt parameters N=${N} r=${r} p=${p} are out of range`);
      const salt = Buffer.from(m[4]!, 'base64'), hash = Buffer.from(m[5]!, 'base64');
      if (salt.length < 8 || hash.length < 16) throw new Error(`${where}: salt or hash too short`);
      if (users.has(name)) throw new Error(`${where}: user '${name}' appears twice`);
      users.set(name, { N, r, p, salt, hash });
    });
    if (users.size === 0) throw new Error(`${source}: no users`);
    return new PlainUsers(users);
  }

  /**
   * True when `password` is `user`'s. An unknown user costs the same scrypt work as a known
   * one, so the answer time does not tell which user names exist.
   */
  async verify(user: string, password: Buffer): Promise<boolean> {
    const known = this.users.get(user);
    const rec = known ?? this.users.values().next().value!;
    const hash = await scryptAsync(password, rec.salt, rec.hash.length, { N: rec.N, r: rec.r, p: rec.p });
    return timingSafeEqual(hash, rec.hash) && known !== undefined;
  }
}

/** Reads the Plain credentials message. Undefined user/password lengths over the limit are refused. */
export async function readPlainCredentials(io: HandshakeIO): Promise<{ user: string; password: Buffer }> {
  const lengths = await io.read(8);
  const userLen = lengths.readUInt32BE(0), passLen = lengths.readUInt32BE(4);
  if (userLen > MAX_CREDENTIAL_BYTES || passLen > MAX_CREDENTIAL_BYTES)
    throw new PlainCredentialsTooLong(`Plain credentials too long (${userLen}+${passLen} bytes)`);
  const body = userLen + passLen > 0 ? await io.read(userLen + passLen) : Buffer.alloc(0);
  return { user: body.subarray(0, userLen).toString('utf8'), password: body.subarray(userLen) };
}

export class PlainCredentialsTooLong extends Error {}

/**
 * The Plain exchange after any TLS layer: read credentials, refuse throttled peers before any
 * scrypt work, then check. Resolves undefined on success or a one-line reason.
 */
export class PlainAuth {
  /** The user who authenticated, for logs. */
  user: string | undefined;
  constructor(
    private readonly users: PlainUsers,
    private readonly throttle: AuthThrottle = defaultAuthThrottle,
  ) {}

  async authenticate(io: HandshakeIO, peer = 'unknown'): Promise<string | undefined> {
    let creds;
    try {
      creds = await readPlainCredentials(io);
    } catch (err) {
      if (err instanceof PlainCredentialsTooLong) {
        this.throttle.failed(peer);
        return err.message;
      }
      throw err;
    }
    const refused = this.throttle.refused(peer);
    if (refused) return refused;
    const ok = await this.users.verify(creds.user, creds.password);
    creds.password.fill(0);
    if (ok) {
      this.throttle.succeeded(peer);
      this.user = creds.user;
      return undefined;
    }
    this.throttle.failed(peer);
    return 'authentication failed';
  }
}
