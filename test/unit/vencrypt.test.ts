// VeNCrypt over real sockets: a scripted client walks the exchange byte by byte and switches
// its own socket to TLS (anonymous, and X509 verified against the test certificate) exactly
// where rfbproto says, then authenticates inside TLS. Also what is offered to whom, and the
// ways a client can get the exchange wrong.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { securityHandlers, whyNoSecurity, type SecurityConfig } from '../../src/rfb/security/index.js';
import { hashUserLine, PlainAuth, PlainUsers } from '../../src/rfb/security/plain.js';
import { VeNCryptSecurity, VeNCryptSubtype as S } from '../../src/rfb/security/vencrypt.js';
import { AuthThrottle, vncAuthResponse } from '../../src/rfb/security/vnc-auth.js';
import { PushedBytes } from '../../src/rfb/handshake.js';
import { anonymousTlsContext, certificateTlsContext } from '../../src/server/transport/tls.js';
import { makeCertificate } from '../integration/tls-fixtures.js';
import { perTestListener, until, type ScriptedClient } from './vencrypt-client.js';

const FAST = { N: 1024, r: 8, p: 1 }; // cheap hashes for tests; the format carries the parameters
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
const ANON = { ciphers: 'aNULL:@SECLEVEL=0', maxVersion: 'TLSv1.2' as const, rejectUnauthorized: false, checkServerIdentity: () => undefined };

let dir: string;
let pem: { cert: Buffer; key: Buffer };
let users: PlainUsers;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-vencrypt-'));
  const files = makeCertificate(dir);
  pem = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
  users = PlainUsers.parse(`${await hashUserLine('alice', 'wonderland', FAST)}\n${await hashUserLine('bob', 'builder', FAST)}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { serve, connect } = perTestListener();

/** Picks VeNCrypt, agrees on 0.2, returns the subtypes offered. */
async function veNCryptSubtypes(c: ScriptedClient): Promise<number[]> {
  const types = await c.hello();
  expect(types[0]).toBe(19);
  c.write([19]);
  expect([...(await c.read(2))]).toEqual([0, 2]);
  c.write([0, 2]);
  expect((await c.read(1))[0]).toBe(0);
  const n = (await c.read(1))[0]!;
  const list: number[] = [];
  for (let i = 0; i < n; i++) list.push(await c.readU32());
  return list;
}

/** After SecurityResult OK: ClientInit, then ServerInit's size. */
async function init(c: ScriptedClient): Promise<{ width: number; height: number }> {
  c.write([1]);
  const head = await c.read(24);
  await c.read(head.readUInt32BE(20));
  return { width: head.readUInt16BE(0), height: head.readUInt16BE(2) };
}

describe('VeNCrypt exchange', () => {
  it('TLSVnc: anonymous TLS, then VNC auth inside it, then the framebuffer', async () => {
    const { port, logs } = await serve({ password: 'pw123' });
    const c = await connect(port);
    expect(await veNCryptSubtypes(c)).toEqual([S.TLSVnc]);
    c.write(u32(S.TLSVnc));
    expect((await c.read(1))[0]).toBe(1); // go ahead with TLS
    const tls = await c.startTls(ANON);
    expect(tls.getCipher().name).toMatch(/^(AECDH|ADH)-/); // anonymous key exchange
    const challenge = await c.read(16);
    c.write(vncAuthResponse('pw123', challenge));
    expect(await c.readU32()).toBe(0);
    expect(await init(c)).toEqual({ width: 64, height: 48 });
    await until(() => logs.some((l) => /RFB 3\.8, VeNCrypt TLSVnc, shared/.test(l)), 'the session log line');
  });

  it('X509Plain: the certificate verifies against itself as CA; right and wrong passwords', async () => {
    const { port, logs } = await serve({ users, certificate: certificateTlsContext(pem) });
    const login = async (user: string, password: string) => {
      const c = await connect(port);
      expect(await veNCryptSubtypes(c)).toEqual([S.X509Plain, S.TLSPlain]);
      c.write(u32(S.X509Plain));
      expect((await c.read(1))[0]).toBe(1);
      const tls = await c.startTls({ ca: pem.cert, servername: 'localhost', host: '127.0.0.1' });
      expect(tls.authorized).toBe(true);
      const u = Buffer.from(user), p = Buffer.from(password);
      c.write(Buffer.concat([u32(u.length), u32(p.length), u, p]));
      const result = await c.readU32();
      return { c, result, reason: result === 0 ? '' : await c.readReason() };
    };
    const bad = await login('alice', 'builder'); // bob's password is not alice's
    expect(bad).toMatchObject({ result: 1, reason: 'authentication failed' });
    const unknown = await login('mallory', 'wonderland');
    expect(unknown).toMatchObject({ result: 1, reason: 'authentication failed' });
    const good = await login('alice', 'wonderland');
    expect(good.result).toBe(0);
    expect(await init(good.c)).toEqual({ width: 64, height: 48 });
    await until(() => logs.some((l) => /VeNCrypt X509Plain \(user alice\)/.test(l)), 'the session log line');
  });

  it('refuses VeNCrypt 0.1 with 0xFF and closes', async () => {
    const { port, logs } = await serve({ password: 'pw' });
    const c = await connect(port);
    await c.hello();
    c.write([19]);
    await c.read(2);
    c.write([0, 1]);
    expect((await c.read(1))[0]).toBe(0xff);
    await until(() => c.closed, 'the server to close');
    await until(() => logs.some((l) => /VeNCrypt 0\.1; this server speaks 0\.2/.test(l)), 'the reason in the log');
  });

  it('a subtype that was not offered fails with a SecurityResult and reason', async () => {
    const { port } = await serve({ password: 'pw' });
    const c = await connect(port);
    await veNCryptSubtypes(c);
    c.write(u32(S.Plain)); // Plain without TLS is never offered on raw TCP
    expect(await c.readU32()).toBe(1);
    expect(await c.readReason()).toBe('client chose VeNCrypt subtype 256, which was not offered');
  });

  it('bytes sent before the TLS handshake, or a broken one, close just that client with a reason', async () => {
    const { port, logs } = await serve({ password: 'pw' });
    const early = await connect(port);
    await veNCryptSubtypes(early);
    early.write(Buffer.concat([u32(S.TLSVnc), Buffer.from('early')])); // pipelined before the go-ahead
    await until(() => early.closed, 'the server to close the early client');
    const garbage = await connect(port);
    await veNCryptSubtypes(garbage);
    garbage.write(u32(S.TLSVnc));
    await garbage.read(1);
    garbage.write(Buffer.from('this is not a TLS ClientHello, not at all'));
    await until(() => garbage.closed, 'the server to close the garbage client');
    await until(() => logs.some((l) => /client sent data before the TLS handshake/.test(l)), 'the early-data reason');
    await until(() => logs.some((l) => /TLS handshake failed/.test(l)), `the TLS failure reason in ${JSON.stringify(logs)}`);
    // The server is still fine for the next client.
    const c = await connect(port);
    expect(await veNCryptSubtypes(c)).toEqual([S.TLSVnc]);
  });
});

describe('what is offered to whom', () => {
  const tcp = { encrypted: false, canStartTls: true, allowUnauthenticated: false, loopback: false };
  const types = (config: SecurityConfig, peer = tcp) =>
    securityHandlers(config, peer).map((h) => (h instanceof VeNCryptSecurity ? `19:${subtypesOf(h).join(',')}` : String(h.type)));
  const subtypesOf = (h: VeNCryptSecurity) => (h as unknown as { opts: { subtypes: number[] } }).opts.subtypes;
  const certificate = () => certificateTlsContext(pem);
  const anonymous = anonymousTlsContext;

  it('strongest first: X509 then anonymous TLS, VNC auth last for old clients', () => {
    expect(types({ password: 'x', users, certificate: certificate(), anonymous })).toEqual([`19:262,261,259,258`, '2']);
  });
  it('a browser over wss gets Plain inside VeNCrypt (no TLS in TLS); over ws never Plain', () => {
    const wss = { encrypted: true, canStartTls: false, allowUnauthenticated: false, loopback: false };
    expect(types({ users, certificate: certificate(), anonymous }, wss)).toEqual(['19:256']);
    const ws = { ...wss, encrypted: false };
    expect(types({ users, anonymous }, ws)).toEqual([]);
    expect(whyNoSecurity({ users })).toMatch(/need an encrypted connection/);
    expect(types({ password: 'x', users, anonymous }, ws)).toEqual(['2']);
  });
  it('no password: None only for loopback or --insecure; remote insecure peers also get TLSNone', () => {
    expect(types({ anonymous }, { ...tcp, loopback: true, allowUnauthenticated: true })).toEqual(['1']);
    expect(types({ anonymous }, tcp)).toEqual([]);
    expect(whyNoSecurity({})).toMatch(/unauthenticated access from its own host only/);
    expect(types({ anonymous }, { ...tcp, allowUnauthenticated: true })).toEqual(['19:257', '1']);
    expect(types({ anonymous, certificate: certificate() }, { ...tcp, loopback: true, allowUnauthenticated: true })).toEqual(['19:260,257', '1']);
  });
});

describe('Plain checks', () => {
  it('a users file with a plaintext password or a bad line is refused, naming the line', () => {
    expect(() => PlainUsers.parse('alice:wonderland\n', 'users')).toThrow(/users line 1: not a scrypt hash/);
    expect(() => PlainUsers.parse('# only a comment\n', 'users')).toThrow(/no users/);
    expect(() => PlainUsers.parse('alice:scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', 'u')).toThrow(/N=1000/);
  });

  it('over-long credentials are refused without hashing and count as a failure', async () => {
    const throttle = new AuthThrottle(2);
    const io = new PushedBytes(() => {});
    const auth = new PlainAuth(users, throttle);
    const done = auth.authenticate(io, 'peer');
    io.push(Buffer.concat([u32(5), u32(1 << 30)]));
    expect(await done).toMatch(/too long/);
    const io2 = new PushedBytes(() => {});
    const done2 = new PlainAuth(users, throttle).authenticate(io2, 'peer');
    io2.push(Buffer.concat([u32(5), u32(1 << 30)]));
    await done2;
    expect(throttle.refused('peer')).toMatch(/too many authentication failures/);
  });

  it('a blocked peer is refused before any scrypt work, even with the right password', async () => {
    let hashes = 0;
    const counting = Object.create(users, { verify: { value: (u: string, p: Buffer) => (hashes++, users.verify(u, p)) } }) as PlainUsers;
    const throttle = new AuthThrottle(5);
    const attempt = async (password: string) => {
      const io = new PushedBytes(() => {});
      const done = new PlainAuth(counting, throttle).authenticate(io, '10.9.8.7');
      const u = Buffer.from('alice'), p = Buffer.from(password);
      io.push(Buffer.concat([u32(u.length), u32(p.length), u, p]));
      return done;
    };
    for (let i = 0; i < 5; i++) expect(await attempt('guess' + i)).toBe('authentication failed');
    expect(hashes).toBe(5);
    expect(await attempt('wonderland')).toMatch(/too many authentication failures/);
    expect(hashes).toBe(5); // the 6th never reached scrypt
  });
});
