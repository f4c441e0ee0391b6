// Server handshake driven byte by byte as a client would, checking every byte the server
// writes against rfbproto's layout.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { PushedBytes, negotiateVersion, serverHandshake, type HandshakeResult } from '../../src/rfb/handshake.js';
import { ProtocolError } from '../../src/rfb/reader.js';
import { NoneSecurity, VncAuthSecurity, type SecurityHandler } from '../../src/rfb/security/index.js';
import { AuthThrottle, vncAuthResponse } from '../../src/rfb/security/vnc-auth.js';

const require = createRequire(import.meta.url);
/** rfb2's own DES (a port of d3des.c), independent of des.js. */
const d3des = require('rfb2/d3des') as { response(challenge: Buffer, password: string): Buffer | number[] };

const u32 = (v: number) => Buffer.from([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
const SERVER_INIT = Buffer.from('SERVERINIT');

/** A scripted client: push bytes to the server, take what it wrote since last time. */
function start(security: SecurityHandler[]) {
  const written: Buffer[] = [];
  const io = new PushedBytes((b) => written.push(Buffer.from(b)));
  const done = serverHandshake(io, { security, peer: 'test', serverInit: () => SERVER_INIT });
  done.catch(() => {}); // observed by the test
  return {
    io,
    done,
    send: (b: Buffer | string) => io.push(typeof b === 'string' ? Buffer.from(b, 'latin1') : b),
    /** Everything written so far and not yet taken, after pending microtasks ran. */
    async take(): Promise<Buffer> {
      await new Promise((r) => setImmediate(r));
      return Buffer.concat(written.splice(0));
    },
  };
}

async function expectFailure(done: Promise<HandshakeResult>, reason: RegExp): Promise<void> {
  const err = await done.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProtocolError);
  expect((err as Error).message).toMatch(reason);
}

describe('ProtocolVersion', () => {
  it('maps client versions as rfbproto says', () => {
    const v = (s: string) => negotiateVersion(Buffer.from(s, 'latin1'));
    expect(v('RFB 003.003\n')).toBe('3.3');
    expect(v('RFB 003.007\n')).toBe('3.7');
    expect(v('RFB 003.008\n')).toBe('3.8');
    expect(v('RFB 003.005\n')).toBe('3.3');
    expect(v('RFB 003.004\n')).toBe('3.3');
    expect(v('RFB 003.889\n')).toBe('3.8'); // macOS Screen Sharing
    expect(() => v('RFB 004.001\n')).toThrow(/unsupported RFB version 4.1/);
    expect(() => v('GET / HTTP/1')).toThrow(/not an RFB ProtocolVersion: "GET \/ HTTP\/1"/);
    expect(() => v('RFB 003.008\r')).toThrow(ProtocolError);
  });

  it('closes on garbage with a reason, having written only its own version', async () => {
    const c = start([new NoneSecurity()]);
    expect((await c.take()).toString('latin1')).toBe('RFB 003.008\n');
    c.send('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00'); // a TLS ClientHello
    await expectFailure(c.done, /not an RFB ProtocolVersion/);
    expect((await c.take()).length).toBe(0);
  });
});

describe('security None', () => {
  it('3.3: server picks the type (u32), no SecurityResult', async () => {
    const c = start([new NoneSecurity()]);
    await c.take();
    c.send('RFB 003.003\n');
    expect(await c.take()).toEqual(u32(1));
    c.send(Buffer.from([1])); // ClientInit, shared
    expect(await c.take()).toEqual(SERVER_INIT);
    expect(await c.done).toEqual({ version: '3.3', securityType: 1, securityName: 'no authentication', shared: true });
  });

  it('3.7: a list of types, no SecurityResult after None', async () => {
    const c = start([new NoneSecurity()]);
    await c.take();
    c.send('RFB 003.007\n');
    expect(await c.take()).toEqual(Buffer.from([1, 1]));
    c.send(Buffer.from([1]));
    expect((await c.take()).length).toBe(0);
    c.send(Buffer.from([0])); // exclusive
    expect(await c.take()).toEqual(SERVER_INIT);
    expect(await c.done).toEqual({ version: '3.7', securityType: 1, securityName: 'no authentication', shared: false });
  });

  it('3.8 and 3.889: a list, then SecurityResult OK', async () => {
    for (const version of ['RFB 003.008\n', 'RFB 003.889\n']) {
      const c = start([new NoneSecurity()]);
      await c.take();
      c.send(version);
      expect(await c.take()).toEqual(Buffer.from([1, 1]));
      c.send(Buffer.from([1]));
      expect(await c.take()).toEqual(u32(0));
      c.send(Buffer.from([1]));
      expect(await c.take()).toEqual(SERVER_INIT);
      expect((await c.done).version).toBe('3.8');
    }
  });

  it('3.8: a type that was not offered fails with a reason', async () => {
    const c = start([new NoneSecurity()]);
    await c.take();
    c.send('RFB 003.008\n');
    await c.take();
    c.send(Buffer.from([2]));
    await expectFailure(c.done, /security type 2, which was not offered/);
    const out = await c.take();
    expect(out.readUInt32BE(0)).toBe(1);
    expect(out.subarray(8).toString()).toBe('client chose security type 2, which was not offered');
    expect(out.readUInt32BE(4)).toBe(out.length - 8);
  });

  it('3.3: tells a client that no type it can use is offered (type 0 + reason)', async () => {
    const veNCryptOnly: SecurityHandler = { type: 19, authenticate: async () => undefined };
    const c = start([veNCryptOnly]);
    await c.take();
    c.send('RFB 003.003\n');
    await expectFailure(c.done, /3.3 clients cannot use/);
    const out = await c.take();
    expect(out.readUInt32BE(0)).toBe(0);
    expect(out.readUInt32BE(4)).toBe(out.length - 8);
    expect(out.subarray(8).toString()).toMatch(/^RFB 3.3 clients cannot use/);
  });

  it('takes the whole client side in one chunk, leaving pipelined bytes', async () => {
    const c = start([new NoneSecurity()]);
    c.send(Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1, 3, 0, 0, 0])]));
    expect((await c.done).shared).toBe(true);
    expect(c.io.takeRest()).toEqual(Buffer.from([3, 0, 0, 0]));
  });
});

describe('VNC authentication', () => {
  it('computes the response of a known vector (OpenSSL DES-ECB with the bit-reversed key)', () => {
    // `openssl enc -des-ecb -nopad -K 0e86ceceeef64e26` of "0123456789abcdef":
    // 0e86ceceeef64e26 is "password" with each byte's bits reversed.
    expect(vncAuthResponse('password', Buffer.from('0123456789abcdef')).toString('hex')).toBe(
      '5645abeb5f1e6475e8feb11beb66ea19',
    );
    // and agrees with rfb2's d3des on a random challenge and a long (truncated) password
    const challenge = Buffer.from('f1e2d3c4b5a69788796a5b4c3d2e1f00', 'hex');
    expect(vncAuthResponse('secret-long-password', challenge)).toEqual(Buffer.from(d3des.response(challenge, 'secret-long-password')));
  });

  async function run(version: string, password: string, clientPassword: string) {
    const c = start([new VncAuthSecurity(password, new AuthThrottle())]);
    await c.take();
    c.send(version);
    let challenge = await c.take();
    if (version === 'RFB 003.003\n') {
      // 3.3: the server's choice (u32 2) and the challenge follow without a client turn
      expect(challenge.subarray(0, 4)).toEqual(u32(2));
      challenge = challenge.subarray(4);
    } else {
      expect(challenge).toEqual(Buffer.from([1, 2]));
      c.send(Buffer.from([2]));
      challenge = await c.take();
    }
    expect(challenge.length).toBe(16);
    c.send(Buffer.from(d3des.response(challenge, clientPassword)));
    return { c, result: await c.take() };
  }

  it('accepts the right password (3.8, 3.7, 3.3)', async () => {
    for (const version of ['RFB 003.008\n', 'RFB 003.007\n', 'RFB 003.003\n']) {
      const { c, result } = await run(version, 'hunter2', 'hunter2');
      expect(result).toEqual(u32(0));
      c.send(Buffer.from([1]));
      expect(await c.take()).toEqual(SERVER_INIT);
      expect((await c.done).securityType).toBe(2);
    }
  });

  it('refuses a wrong password: 3.8 with a reason, 3.7 and 3.3 without', async () => {
    const r8 = await run('RFB 003.008\n', 'hunter2', 'hunter3');
    await expectFailure(r8.c.done, /authentication failed/);
    expect(r8.result.readUInt32BE(0)).toBe(1);
    expect(r8.result.readUInt32BE(4)).toBe(r8.result.length - 8);
    expect(r8.result.subarray(8).toString()).toBe('authentication failed');
    for (const version of ['RFB 003.007\n', 'RFB 003.003\n']) {
      const r = await run(version, 'hunter2', 'wrong');
      await expectFailure(r.c.done, /authentication failed/);
      expect(r.result).toEqual(u32(1));
    }
  });

  it('uses a fresh challenge each time', async () => {
    const a = await run('RFB 003.008\n', 'pw', 'pw');
    const b = await run('RFB 003.008\n', 'pw', 'pw');
    expect(a.result).toEqual(u32(0));
    expect(b.result).toEqual(u32(0));
    const ca = start([new VncAuthSecurity('pw', new AuthThrottle())]);
    const cb = start([new VncAuthSecurity('pw', new AuthThrottle())]);
    for (const c of [ca, cb]) {
      await c.take();
      c.send('RFB 003.008\n');
      await c.take();
      c.send(Buffer.from([2]));
    }
    expect((await ca.take()).equals(await cb.take())).toBe(false);
  });

  it('throttles guessing: after 5 failures even the right password is refused for a while', async () => {
    let now = 1_000_000;
    const throttle = new AuthThrottle(5, 10_000, () => now);
    const attempt = async (pw: string) => {
      const c = start([new VncAuthSecurity('right', throttle)]);
      c.send('RFB 003.008\n');
      await c.take();
      c.send(Buffer.from([2]));
      const challenge = await c.take();
      c.send(Buffer.from(d3des.response(challenge, pw)));
      c.send(Buffer.from([1])); // ClientInit, read only on success
      return c.done.then(() => 'ok', (e: Error) => e.message);
    };
    for (let i = 0; i < 5; i++) expect(await attempt('guess')).toBe('authentication failed');
    expect(await attempt('right')).toMatch(/too many authentication failures/);
    now += 10_001;
    expect(await attempt('right')).toBe('ok');
  });
});
