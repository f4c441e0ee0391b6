// Property tests over every handshake stage and client message, against a real VncListener
// on loopback: well-formed input is served, malformed input drops only that client with a
// reason naming the fault, and the CI-sized fuzz campaign (≥ 10⁴ messages) finds nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FuzzTarget, sendAndClose, splitRandomly } from '../fuzz/target.js';
import { build, malformedMessage, sessionCase, validMessage, versionBytes, invalidVersion, type Version } from '../fuzz/messages.js';
import { BGR32, Observer, RAW, ZRLE } from '../fuzz/observer.js';
import { loadCorpus, runCampaign } from '../fuzz/campaign.js';
import { CORPUS_DIR } from '../fuzz/cli.js';
import { rngFrom } from '../fuzz/mutate.js';

const handshake = (v: Version = '3.8') => [versionBytes(v), ...(v === '3.3' ? [] : [Buffer.from([1])]), Buffer.from([1])];

/** What a reason must mention for each kind of malformed message. */
function expectedWord(label: string): RegExp {
  if (label.startsWith('unknown type')) return /unknown client message type/;
  if (label.startsWith('QEMU')) return /QEMU/;
  if (label.startsWith('ClientFence')) return /Fence/;
  return new RegExp(label.split(' ')[0]!);
}

describe('protocol properties (in-process server, loopback)', () => {
  let target: FuzzTarget;
  beforeAll(async () => {
    target = await new FuzzTarget({ width: 64, height: 48 }).start();
  });
  afterAll(() => target.close());

  it('serves any sequence of well-formed messages, split anywhere, after any handshake version', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Version>('3.3', '3.7', '3.8'), fc.array(validMessage, { maxLength: 30 }), fc.nat(), async (v, msgs, seed) => {
        const stream = Buffer.concat([...handshake(v), ...msgs.map((m) => m.bytes)]);
        expect(await sendAndClose(target, splitRandomly(stream, rngFrom(seed), 8))).toBe('client disconnected');
      }),
      { numRuns: 300 },
    );
  });

  it('drops a client at its first malformed message, with a reason that names it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(validMessage, { maxLength: 10 }), malformedMessage, async (before, bad) => {
        const reason = await sendAndClose(target, [...handshake(), ...before.map((m) => m.bytes), bad.bytes]);
        expect(reason).toMatch(expectedWord(bad.label));
        expect(reason).not.toMatch(/internal error|\n/);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses a bad ProtocolVersion with a one-line reason', async () => {
    await fc.assert(
      fc.asyncProperty(invalidVersion, async (v) => {
        const reason = await sendAndClose(target, [v]);
        expect(reason).toMatch(/RFB ProtocolVersion|unsupported RFB version/);
        expect(reason).not.toMatch(/\n/);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a security type it did not offer, and tells a 3.8 client why', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(255).filter((t) => t !== 1), async (type) => {
        const c = await target.rawConnect();
        const got: Buffer[] = [];
        c.socket.on('data', (b: Buffer) => got.push(b));
        c.socket.write(Buffer.concat([versionBytes('3.8'), Buffer.from([type])]));
        const reason = await target.disconnectOf(c.localPort, 5000);
        await new Promise((r) => c.socket.once('close', r));
        expect(reason).toBe(`client chose security type ${type}, which was not offered`);
        // Version (12), security list (2), SecurityResult failed (4) + reason string.
        const all = Buffer.concat(got);
        expect(all.readUInt32BE(14)).toBe(1);
        expect(all.subarray(22, 22 + all.readUInt32BE(18)).toString()).toBe(reason);
      }),
      { numRuns: 50 },
    );
  });

  it('whole generated sessions get exactly the verdict their labels call for', async () => {
    await fc.assert(
      fc.asyncProperty(sessionCase(30), async (c) => {
        const reason = await sendAndClose(target, c.pieces.map((p) => p.bytes));
        if (c.valid) expect(reason).toBe('client disconnected');
        else expect(reason).not.toMatch(/^client disconnected$|internal error/);
      }),
      { numRuns: 300 },
    );
  });

  it('a client that connects and sends nothing is dropped after the handshake timeout', async () => {
    const quick = await new FuzzTarget({ handshakeTimeoutMs: 200 }).start();
    try {
      const c = await quick.rawConnect();
      expect(await quick.disconnectOf(c.localPort, 5000)).toBe('handshake not completed within 200 ms');
      c.socket.destroy();
    } finally {
      await quick.close();
    }
  });

  it('a client silent after the handshake is dropped when an idle timeout is set', async () => {
    const quick = await new FuzzTarget({ idleTimeoutMs: 200 }).start();
    try {
      const c = await quick.rawConnect();
      c.socket.write(Buffer.concat(handshake()));
      expect(await quick.disconnectOf(c.localPort, 5000)).toBe('client sent nothing for 200 ms');
      c.socket.destroy();
    } finally {
      await quick.close();
    }
  });
});

describe('VNC authentication stage', () => {
  it('a wrong 16-byte response fails with SecurityResult 1 and a logged reason', async () => {
    const target = await new FuzzTarget({ password: 'secret' }).start();
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 16 }), async (response) => {
          const reason = await sendAndClose(target, [versionBytes('3.8'), Buffer.from([2]), Buffer.from(response), Buffer.from([1])]);
          expect(reason).toMatch(/authentication failed|too many authentication failures/);
        }),
        { numRuns: 20 },
      );
    } finally {
      await target.close();
    }
  });
});

describe('isolation', () => {
  it('malformed clients leave two observers connected and pixel-exact; an exclusive client is the only one that may drop them', async () => {
    const target = await new FuzzTarget({ width: 80, height: 60 }).start();
    const observers = [await Observer.start(target.port, RAW), await Observer.start(target.port, ZRLE, BGR32)];
    try {
      await fc.assert(
        fc.asyncProperty(malformedMessage, fc.nat(), async (bad, seed) => {
          const rng = rngFrom(seed);
          const r = { x: Math.floor(rng() * 70), y: Math.floor(rng() * 50), w: 10, h: 10 };
          target.display.paint(r, seed & 0xff, (seed >> 8) & 0xff, (seed >> 16) & 0xff);
          await sendAndClose(target, [...handshake(), build.updateRequest(false, 0, 0, 80, 60), bad.bytes]);
          for (const o of observers) await o.waitForMatch(target.display, 5000);
        }),
        { numRuns: 100 },
      );
      expect(observers.every((o) => !o.closed && !o.error)).toBe(true);
      const excl = await target.rawConnect();
      excl.socket.write(Buffer.concat([versionBytes('3.8'), Buffer.from([1, 0])]));
      for (let i = 0; i < 100 && observers.some((o) => !o.closed); i++) await new Promise((r) => setTimeout(r, 20));
      expect(observers.map((o) => [o.closed, o.error])).toEqual([[true, undefined], [true, undefined]]);
      expect(target.reasons.get('another client asked for an exclusive connection')).toBe(2);
      excl.socket.destroy();
    } finally {
      for (const o of observers) o.close();
      await target.close();
    }
  });
});

describe('CI fuzz campaign', () => {
  it('≥ 10⁴ messages, generated and mutated from recorded real clients: no crash, hang, wrong verdict or corrupted observer', async () => {
    const corpus = loadCorpus(CORPUS_DIR());
    expect(corpus.length).toBeGreaterThanOrEqual(5);
    const r = await runCampaign({ messages: 20_000, seed: Number(process.env.FUZZ_SEED ?? 42), corpus });
    expect(r.failures).toEqual([]);
    expect(r.messages).toBeGreaterThanOrEqual(20_000);
    expect(r.generatedSessions).toBeGreaterThan(0);
    expect(r.mutatedSessions).toBeGreaterThan(0);
    expect(r.checks).toBeGreaterThan(0);
  }, 60_000);
});
