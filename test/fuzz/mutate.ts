// Recorded client sessions, cut into messages (from rfbproto), and the mutations the loop
// applies to them: bit flips, byte values at the edges, truncation, splicing two sessions,
// length and count fields set to extremes, duplicated and swapped messages, inserted junk.
import { CLIENT_TYPES } from './messages.js';

export interface Recording {
  /** Which real client produced it. */
  client: string;
  /** Client-to-server bytes, one entry per handshake stage or message. */
  messages: Buffer[];
}

/** A message's field: its offset in the message, width in bytes, and extremes to try. */
interface LengthField {
  at: number;
  bytes: 1 | 2 | 4;
  extremes: number[];
}

/**
 * Cuts a client stream (security None) into handshake stages and messages. Returns the
 * stages and messages it could cut; `rest` holds bytes it could not (an unknown type or a
 * truncated message), so a clean recording has an empty rest.
 */
export function splitClientStream(b: Buffer): { messages: Buffer[]; rest: Buffer } {
  const out: Buffer[] = [];
  let at = 0;
  const take = (n: number): boolean => {
    if (at + n > b.length) return false;
    out.push(b.subarray(at, at + n));
    at += n;
    return true;
  };
  const done = () => ({ messages: out, rest: b.subarray(at) });
  if (!take(12)) return done();
  const minor = Number(/^RFB 003\.(\d{3})\n$/.exec(b.subarray(0, 12).toString('latin1'))?.[1] ?? NaN);
  if (Number.isNaN(minor)) return done();
  if (minor >= 7) {
    if (!take(1)) return done();
    if (out[1]![0] === 2 && !take(16)) return done(); // VNC authentication response
  }
  if (!take(1)) return done(); // ClientInit
  while (at < b.length) {
    const n = messageSize(b, at);
    if (n === undefined || !take(n)) break;
  }
  return done();
}

/** Size of the client message at `at`, or undefined when unknown or incomplete. */
export function messageSize(b: Buffer, at: number): number | undefined {
  const left = b.length - at;
  const need = (n: number) => (left >= n ? n : undefined);
  switch (b[at]) {
    case 0: return need(20);
    case 2: return left >= 4 ? need(4 + 4 * b.readUInt16BE(at + 2)) : undefined;
    case 3: return need(10);
    case 4: return need(8);
    case 5: return need(6);
    case 6: return left >= 8 ? need(8 + Math.abs(b.readInt32BE(at + 4))) : undefined;
    case 150: return need(10);
    case 248: return left >= 9 ? need(9 + b[at + 8]!) : undefined;
    case 251: return left >= 8 ? need(8 + 16 * b[at + 6]!) : undefined;
    case 255: return left >= 2 && b[at + 1] === 0 ? need(12) : undefined;
    default: return undefined;
  }
}

function lengthFields(msg: Buffer): LengthField[] {
  switch (msg[0]) {
    case 0: return [
      { at: 4, bytes: 1, extremes: [0, 1, 7, 24, 31, 33, 64, 255] }, // bits-per-pixel
      { at: 5, bytes: 1, extremes: [0, 33, 255] }, // depth
      { at: 8, bytes: 2, extremes: [0, 1, 0x7fff, 0xfffe, 0xffff] }, // red-max
      { at: 14, bytes: 1, extremes: [0, 24, 31, 32, 255] }, // red-shift
    ];
    case 2: return [{ at: 2, bytes: 2, extremes: [0, 1, 1024, 1025, 0x7fff, 0xffff] }];
    case 3:
    case 150: return [
      { at: 2, bytes: 2, extremes: [0, 0x7fff, 0xffff] }, { at: 6, bytes: 2, extremes: [0, 1, 0xffff] },
      { at: 8, bytes: 2, extremes: [0, 1, 0xffff] },
    ];
    case 5: return [{ at: 2, bytes: 2, extremes: [0xffff] }, { at: 4, bytes: 2, extremes: [0xffff] }];
    case 6: return [{ at: 4, bytes: 4, extremes: [0, 1, 0x100000, 0x100001, 0x7fffffff, 0x80000000, 0xffffffff, 0xfff00000] }];
    case 248: return [{ at: 8, bytes: 1, extremes: [0, 64, 65, 255] }, { at: 4, bytes: 4, extremes: [0, 0x80000007, 0xffffffff] }];
    case 251: return [{ at: 6, bytes: 1, extremes: [0, 1, 16, 17, 255] }];
    case 255: return [{ at: 1, bytes: 1, extremes: [1, 255] }];
    default: return [];
  }
}

export type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);

export const MUTATIONS = ['bit-flip', 'edge-bytes', 'truncate', 'splice', 'length-extreme', 'duplicate', 'swap', 'insert-junk', 'type-byte'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** One mutated session built from `rec` (and `other` for splices). Handshake stages stay countable: messages are copied. */
export function mutate(rec: Recording, other: Recording, rng: Rng, kind: Mutation = pick(rng, MUTATIONS)): { kind: Mutation; messages: Buffer[] } {
  const msgs = rec.messages.map((m) => Buffer.from(m));
  const flat = () => Buffer.concat(msgs);
  switch (kind) {
    case 'bit-flip': {
      const b = flat();
      for (let i = 1 + int(rng, 8); i > 0; i--) b[int(rng, b.length)]! ^= 1 << int(rng, 8);
      return { kind, messages: [b] };
    }
    case 'edge-bytes': {
      const b = flat();
      for (let i = 1 + int(rng, 4); i > 0; i--) b[int(rng, b.length)] = pick(rng, [0, 1, 0x7f, 0x80, 0xfe, 0xff]);
      return { kind, messages: [b] };
    }
    case 'truncate': {
      const b = flat();
      return { kind, messages: [b.subarray(0, int(rng, b.length))] };
    }
    case 'splice': {
      const a = flat(), o = Buffer.concat(other.messages);
      return { kind, messages: [a.subarray(0, int(rng, a.length + 1)), o.subarray(int(rng, o.length))] };
    }
    case 'length-extreme': {
      const candidates = msgs.map((m, i) => ({ i, fields: lengthFields(m) })).filter((c) => c.fields.length && msgs[c.i]!.length > 1);
      if (!candidates.length) return mutate(rec, other, rng, 'bit-flip');
      const c = pick(rng, candidates);
      const f = pick(rng, c.fields);
      const m = msgs[c.i]!;
      if (f.at + f.bytes > m.length) return mutate(rec, other, rng, 'bit-flip');
      const v = pick(rng, f.extremes);
      if (f.bytes === 1) m[f.at] = v;
      else if (f.bytes === 2) m.writeUInt16BE(v, f.at);
      else m.writeUInt32BE(v >>> 0, f.at);
      return { kind, messages: msgs };
    }
    case 'duplicate': {
      const i = 3 + int(rng, Math.max(1, msgs.length - 3));
      const m = msgs[Math.min(i, msgs.length - 1)]!;
      const copies = pick(rng, [2, 10, 100, 1000]);
      msgs.splice(i, 0, ...Array.from({ length: copies }, () => m));
      return { kind, messages: msgs };
    }
    case 'swap': {
      const i = int(rng, msgs.length), j = int(rng, msgs.length);
      [msgs[i], msgs[j]] = [msgs[j]!, msgs[i]!];
      return { kind, messages: msgs };
    }
    case 'insert-junk': {
      const junk = Buffer.alloc(1 + int(rng, 32));
      for (let k = 0; k < junk.length; k++) junk[k] = int(rng, 256);
      msgs.splice(int(rng, msgs.length + 1), 0, junk);
      return { kind, messages: msgs };
    }
    case 'type-byte': {
      // A message's type replaced by another known type: the rest is read with the wrong layout.
      const i = Math.min(msgs.length - 1, 3 + int(rng, Math.max(1, msgs.length - 3)));
      msgs[i]![0] = pick(rng, CLIENT_TYPES);
      return { kind, messages: msgs };
    }
  }
}

/**
 * Exclusive (shared = 0) ClientInit legitimately disconnects every other client; the loop
 * keeps its observers, so it turns such a byte into 1 (exclusivity has its own test).
 */
export function keepShared(stream: Buffer): Buffer {
  const m = /^RFB 003\.(\d{3})\n/.exec(stream.subarray(0, 12).toString('latin1'));
  if (!m) return stream;
  const minor = Number(m[1]);
  // 3.3: the server picks None, ClientInit follows the version. 3.7+: one security byte first
  // (anything but None fails, so a later byte is no ClientInit).
  const at = minor >= 7 ? 13 : 12;
  if (minor >= 7 && stream[12] !== 1) return stream;
  if (stream.length > at && stream[at] === 0) {
    const copy = Buffer.from(stream);
    copy[at] = 1;
    return copy;
  }
  return stream;
}

/** Deterministic PRNG (mulberry32) so a failing case can be replayed from its seed. */
export function rngFrom(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function toJson(rec: Recording): string {
  return JSON.stringify({ client: rec.client, messages: rec.messages.map((m) => m.toString('hex')) }, null, 0);
}

export function fromJson(text: string): Recording {
  const o = JSON.parse(text) as { client: string; messages: string[] };
  return { client: o.client, messages: o.messages.map((h) => Buffer.from(h, 'hex')) };
}
