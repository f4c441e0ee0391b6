// Client-to-server RFB bytes for fuzzing, written from rfbproto (not from src/rfb/reader.ts),
// and fast-check arbitraries that produce them already labelled valid or malformed: the
// label is the oracle the properties check the server against.
import fc from 'fast-check';

export interface Piece {
  bytes: Buffer;
  /** rfbproto allows it and the server's documented limits accept it. */
  valid: boolean;
  /** What it is, for failure messages and statistics. */
  label: string;
}

const u8 = (v: number) => Buffer.from([v & 0xff]);
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const s32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
};
const cat = (...parts: Buffer[]) => Buffer.concat(parts);

// Server limits the messages are checked against (documented in REFERENCE.md §7).
export const LIMITS = { maxEncodings: 1024, maxCutText: 1024 * 1024, maxFencePayload: 64, maxScreens: 16 } as const;

/** Message type numbers rfbproto (and the QEMU extension) defines for client messages. */
export const CLIENT_TYPES = [0, 2, 3, 4, 5, 6, 150, 248, 251, 255] as const;

export interface PixelFormatFields {
  bpp: number;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  max: [number, number, number];
  shift: [number, number, number];
}

export function pixelFormatBytes(pf: PixelFormatFields): Buffer {
  return cat(
    u8(pf.bpp), u8(pf.depth), u8(pf.bigEndian ? 1 : 0), u8(pf.trueColour ? 1 : 0),
    u16(pf.max[0]), u16(pf.max[1]), u16(pf.max[2]),
    u8(pf.shift[0]), u8(pf.shift[1]), u8(pf.shift[2]), Buffer.alloc(3),
  );
}

export const build = {
  setPixelFormat: (pf: PixelFormatFields) => cat(u8(0), Buffer.alloc(3), pixelFormatBytes(pf)),
  setEncodings: (list: number[], count = list.length) => cat(u8(2), u8(0), u16(count), ...list.map(s32)),
  updateRequest: (incremental: boolean, x: number, y: number, w: number, h: number) =>
    cat(u8(3), u8(incremental ? 1 : 0), u16(x), u16(y), u16(w), u16(h)),
  keyEvent: (down: boolean, keysym: number) => cat(u8(4), u8(down ? 1 : 0), Buffer.alloc(2), u32(keysym)),
  pointerEvent: (mask: number, x: number, y: number) => cat(u8(5), u8(mask), u16(x), u16(y)),
  cutText: (text: Buffer, length = text.length) => cat(u8(6), Buffer.alloc(3), s32(length), text),
  continuousUpdates: (enable: boolean, x: number, y: number, w: number, h: number) =>
    cat(u8(150), u8(enable ? 1 : 0), u16(x), u16(y), u16(w), u16(h)),
  fence: (flags: number, payload: Buffer, length = payload.length) => cat(u8(248), Buffer.alloc(3), u32(flags), u8(length), payload),
  setDesktopSize: (w: number, h: number, screens: Buffer[], count = screens.length) =>
    cat(u8(251), u8(0), u16(w), u16(h), u8(count), u8(0), ...screens),
  screen: (id: number, x: number, y: number, w: number, h: number, flags: number) => cat(u32(id), u16(x), u16(y), u16(w), u16(h), u32(flags)),
  qemuKey: (down: boolean, keysym: number, keycode: number) => cat(u8(255), u8(0), u16(down ? 1 : 0), u32(keysym), u32(keycode)),
};

/** A client format the server must accept: true colour, channels 2^n−1 that fit and do not overlap. */
export const validPixelFormat: fc.Arbitrary<PixelFormatFields> = fc
  .record({
    bpp: fc.constantFrom(8, 16, 32),
    bits: fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 })),
    order: fc.constantFrom([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]),
    gaps: fc.tuple(fc.nat(4), fc.nat(4), fc.nat(4)),
    bigEndian: fc.boolean(),
    depthSeed: fc.nat(),
  })
  .filter(({ bpp, bits }) => bits[0] + bits[1] + bits[2] <= bpp)
  .map(({ bpp, bits, order, gaps, bigEndian, depthSeed }) => {
    const max: [number, number, number] = [0, 0, 0];
    const shift: [number, number, number] = [0, 0, 0];
    let slack = bpp - bits[0] - bits[1] - bits[2];
    let at = 0;
    for (let i = 0; i < 3; i++) {
      const c = order[i]!;
      const gap = Math.min(gaps[i]!, slack);
      slack -= gap;
      at += gap;
      max[c] = 2 ** bits[c]! - 1;
      shift[c] = at;
      at += bits[c]!;
    }
    return { bpp, depth: 1 + (depthSeed % bpp), bigEndian, trueColour: true, max, shift };
  });

/** Formats rfbproto (or this true-colour-only server) refuses, each for a stated reason. */
export const invalidPixelFormat: fc.Arbitrary<{ pf: PixelFormatFields; why: string }> = fc.oneof(
  fc.record({ pf: validPixelFormat, bpp: fc.integer({ min: 0, max: 255 }).filter((b) => b !== 8 && b !== 16 && b !== 32) })
    .map(({ pf, bpp }) => ({ pf: { ...pf, bpp }, why: 'bpp' })),
  validPixelFormat.map((pf) => ({ pf: { ...pf, depth: 0 }, why: 'depth 0' })),
  fc.record({ pf: validPixelFormat, extra: fc.integer({ min: 1, max: 200 }) })
    .map(({ pf, extra }) => ({ pf: { ...pf, depth: Math.min(255, pf.bpp + extra) }, why: 'depth > bpp' })),
  validPixelFormat.map((pf) => ({ pf: { ...pf, trueColour: false }, why: 'colour map' })),
  fc.record({ pf: validPixelFormat, c: fc.nat(2), max: fc.integer({ min: 0, max: 0xffff }).filter((m) => m === 0 || (m & (m + 1)) !== 0) })
    .map(({ pf, c, max }) => {
      const m = [...pf.max] as [number, number, number];
      m[c] = max;
      return { pf: { ...pf, max: m }, why: 'max not 2^n-1' };
    }),
  fc.record({ pf: validPixelFormat, c: fc.nat(2), shift: fc.integer({ min: 33, max: 255 }) })
    .map(({ pf, c, shift }) => {
      const s = [...pf.shift] as [number, number, number];
      s[c] = shift;
      return { pf: { ...pf, shift: s }, why: 'shift past bpp' };
    }),
  validPixelFormat.map((pf) => ({ pf: { ...pf, max: [pf.max[0], pf.max[0], pf.max[2]] as [number, number, number], shift: [pf.shift[0], pf.shift[0], pf.shift[2]] as [number, number, number] }, why: 'overlap' })),
);

const u16any = fc.integer({ min: 0, max: 0xffff });
const u32any = fc.integer({ min: 0, max: 0xffffffff });
const s32any = fc.integer({ min: -0x80000000, max: 0x7fffffff });
/** Known encodings and pseudo-encodings, plus anything: unknown ones must be ignored. */
const encodingNumber = fc.oneof(
  fc.constantFrom(0, 1, 2, 5, 6, 7, 16, -260, -223, -224, -239, -258, -307, -308, -312, -313, -314, -32, -23, -256, -247),
  s32any,
);
const rectFields = fc.tuple(fc.oneof(fc.nat(80), u16any), fc.oneof(fc.nat(60), u16any), fc.oneof(fc.nat(80), u16any), fc.oneof(fc.nat(60), u16any));

/** Every well-formed client message. */
export const validMessage: fc.Arbitrary<Piece> = fc.oneof(
  validPixelFormat.map((pf) => ({ bytes: build.setPixelFormat(pf), valid: true, label: 'SetPixelFormat' })),
  fc.array(encodingNumber, { maxLength: 40 }).map((l) => ({ bytes: build.setEncodings(l), valid: true, label: 'SetEncodings' })),
  fc.tuple(fc.boolean(), rectFields).map(([inc, r]) => ({ bytes: build.updateRequest(inc, ...r), valid: true, label: 'FramebufferUpdateRequest' })),
  fc.tuple(fc.boolean(), u32any).map(([d, k]) => ({ bytes: build.keyEvent(d, k), valid: true, label: 'KeyEvent' })),
  fc.tuple(fc.nat(255), u16any, u16any).map(([m, x, y]) => ({ bytes: build.pointerEvent(m, x, y), valid: true, label: 'PointerEvent' })),
  fc.uint8Array({ maxLength: 300 }).map((t) => ({ bytes: build.cutText(Buffer.from(t)), valid: true, label: 'ClientCutText' })),
  // Extended clipboard: negative length, its absolute value is the size.
  fc.uint8Array({ minLength: 4, maxLength: 64 }).map((t) => ({ bytes: build.cutText(Buffer.from(t), -t.length), valid: true, label: 'ClientCutText (extended)' })),
  fc.tuple(fc.boolean(), rectFields).map(([on, r]) => ({ bytes: build.continuousUpdates(on, ...r), valid: true, label: 'EnableContinuousUpdates' })),
  fc.tuple(u32any, fc.uint8Array({ maxLength: LIMITS.maxFencePayload })).map(([f, p]) => ({ bytes: build.fence(f, Buffer.from(p)), valid: true, label: 'ClientFence' })),
  fc.tuple(u16any, u16any, fc.array(fc.tuple(u32any, u16any, u16any, u16any, u16any, u32any), { minLength: 1, maxLength: LIMITS.maxScreens }))
    .map(([w, h, s]) => ({ bytes: build.setDesktopSize(w, h, s.map((f) => build.screen(...f))), valid: true, label: 'SetDesktopSize' })),
  fc.tuple(fc.boolean(), u32any, u32any).map(([d, s, c]) => ({ bytes: build.qemuKey(d, s, c), valid: true, label: 'QemuExtendedKeyEvent' })),
);

/** Messages the server must refuse (and then drop the client), each for a reason rfbproto or a documented limit gives. */
export const malformedMessage: fc.Arbitrary<Piece> = fc.oneof(
  fc.tuple(fc.nat(255).filter((t) => !(CLIENT_TYPES as readonly number[]).includes(t)), fc.uint8Array({ maxLength: 20 }))
    .map(([t, rest]) => ({ bytes: cat(u8(t), Buffer.from(rest)), valid: false, label: `unknown type ${t}` })),
  invalidPixelFormat.map(({ pf, why }) => ({ bytes: build.setPixelFormat(pf), valid: false, label: `SetPixelFormat (${why})` })),
  fc.integer({ min: LIMITS.maxEncodings + 1, max: 0xffff })
    .map((n) => ({ bytes: build.setEncodings([], n), valid: false, label: `SetEncodings count ${n}` })),
  fc.oneof(fc.integer({ min: LIMITS.maxCutText + 1, max: 0x7fffffff }), fc.integer({ min: -0x80000000, max: -(LIMITS.maxCutText + 1) }))
    .map((n) => ({ bytes: build.cutText(Buffer.alloc(0), n), valid: false, label: `ClientCutText length ${n}` })),
  fc.integer({ min: LIMITS.maxFencePayload + 1, max: 255 })
    .map((n) => ({ bytes: build.fence(0x80000000, Buffer.alloc(0), n), valid: false, label: `ClientFence payload ${n}` })),
  fc.oneof(fc.constant(0), fc.integer({ min: LIMITS.maxScreens + 1, max: 255 }))
    .map((n) => ({ bytes: build.setDesktopSize(800, 600, [], n), valid: false, label: `SetDesktopSize ${n} screens` })),
  fc.integer({ min: 1, max: 255 }).map((sub) => ({ bytes: cat(u8(255), u8(sub), Buffer.alloc(10)), valid: false, label: `QEMU submessage ${sub}` })),
);

// ---- handshake stages ----

export type Version = '3.3' | '3.7' | '3.8';
export const versionBytes = (v: Version) => Buffer.from(`RFB 003.00${v[2]}\n`, 'latin1');

/** ProtocolVersion strings a server must accept, with the version it then speaks. */
export const validVersion: fc.Arbitrary<{ bytes: Buffer; speaks: Version }> = fc.oneof(
  fc.constantFrom<Version>('3.3', '3.7', '3.8').map((v) => ({ bytes: versionBytes(v), speaks: v })),
  // Old 3.x minors mean 3.3; newer ones (macOS sends 3.889) mean 3.8.
  fc.integer({ min: 0, max: 6 }).map((m) => ({ bytes: Buffer.from(`RFB 003.${String(m).padStart(3, '0')}\n`), speaks: '3.3' as Version })),
  fc.integer({ min: 9, max: 999 }).map((m) => ({ bytes: Buffer.from(`RFB 003.${String(m).padStart(3, '0')}\n`), speaks: '3.8' as Version })),
);

/** 12 bytes that are not an RFB 3.x ProtocolVersion. */
export const invalidVersion: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => Buffer.from(b)).filter((b) => !/^RFB 003\.\d{3}\n$/.test(b.toString('latin1'))),
  fc.integer({ min: 0, max: 999 }).filter((m) => m !== 3).map((m) => Buffer.from(`RFB ${String(m).padStart(3, '0')}.008\n`)),
  fc.constantFrom('GET / HTTP/1', 'RFB 003.008\r', 'rfb 003.008\n', 'RFB 03.0008\n', 'RFB 003.00x\n').map((s) => Buffer.from(s, 'latin1')),
);

/** One fuzzed connection: its pieces in order and whether the server must accept them all. */
export interface SessionCase {
  pieces: Piece[];
  valid: boolean;
  /** Where the first bad piece is: 'version', 'security', 'message', or 'none'. */
  stage: string;
}

/**
 * Whole connections against a server offering security None: every handshake stage, then
 * well-formed messages, sometimes one bad stage or message (after which nothing is sent).
 * ClientInit always asks to share (exclusive access legitimately drops the other clients).
 */
export function sessionCase(maxMessages = 40): fc.Arbitrary<SessionCase> {
  return fc
    .record({
      version: fc.oneof({ weight: 12, arbitrary: validVersion.map((v) => ({ ...v, ok: true })) }, { weight: 1, arbitrary: invalidVersion.map((bytes) => ({ bytes, speaks: '3.8' as Version, ok: false })) }),
      security: fc.oneof({ weight: 12, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.nat(255).filter((t) => t !== 1) }),
      shared: fc.integer({ min: 1, max: 255 }),
      messages: fc.array(validMessage, { maxLength: maxMessages }),
      bad: fc.option(malformedMessage, { freq: 3 }),
      junk: fc.uint8Array({ maxLength: 16 }),
    })
    .map(({ version, security, shared, messages, bad, junk }) => {
      const pieces: Piece[] = [{ bytes: version.bytes, valid: version.ok, label: 'ProtocolVersion' }];
      if (!version.ok) {
        pieces.push({ bytes: Buffer.from(junk), valid: true, label: 'anything after' });
        return { pieces, valid: false, stage: 'version' };
      }
      if (version.speaks !== '3.3') {
        pieces.push({ bytes: Buffer.from([security]), valid: security === 1, label: `security type ${security}` });
        if (security !== 1) return { pieces, valid: false, stage: 'security' };
      }
      pieces.push({ bytes: Buffer.from([shared]), valid: true, label: 'ClientInit' }, ...messages);
      if (bad) pieces.push(bad);
      return { pieces, valid: !bad, stage: bad ? 'message' : 'none' };
    });
}
