// Each access rule, through a real listener and a scripted client: every test fails if its
// rule is taken out.
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { AccessPolicy, isLoopbackAddress } from '../../src/server/access-policy.js';
import { AuthThrottle } from '../../src/rfb/security/vnc-auth.js';
import { vncAuthResponse } from '../../src/rfb/security/vnc-auth.js';
import { perTestListener, until } from './vencrypt-client.js';

const { serve, connect } = perTestListener();

/** One VNC-auth attempt on a new connection: the SecurityResult, or the refusal before any challenge. */
async function vncAuthAttempt(port: number, password: string): Promise<{ refusedUpFront?: string; result?: number }> {
  const c = await connect(port);
  const types = await c.hello();
  if (types.length === 0) return { refusedUpFront: await c.readReason() };
  c.write([2]);
  const challenge = await c.read(16);
  c.write(vncAuthResponse(password, challenge));
  const result = await c.readU32();
  c.end();
  return { result };
}

function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe('password guessing', () => {
  it('after 5 wrong passwords the 6th connection is refused before any challenge (no DES work), even with the right password', async () => {
    const policy = new AccessPolicy({ throttle: new AuthThrottle(5, 60_000) });
    const { port } = await serve({ password: 'right', policy });
    for (let i = 0; i < 5; i++) expect(await vncAuthAttempt(port, `wrong${i}`)).toEqual({ result: 1 });
    const sixth = await vncAuthAttempt(port, 'right');
    expect(sixth.result).toBeUndefined(); // no challenge was ever sent
    expect(sixth.refusedUpFront).toMatch(/^too many authentication failures; try again in \d+ s$/);
  });

  it('a connection opened before the block and answered after it is refused too (the check inside VNC auth)', async () => {
    const policy = new AccessPolicy({ throttle: new AuthThrottle(2, 60_000) });
    const { port } = await serve({ password: 'right', policy });
    const early = await connect(port);
    await early.hello();
    early.write([2]);
    const challenge = await early.read(16);
    for (let i = 0; i < 2; i++) expect(await vncAuthAttempt(port, 'nope')).toEqual({ result: 1 });
    early.write(vncAuthResponse('right', challenge));
    expect(await early.readU32()).toBe(1);
    expect(await early.readReason()).toMatch(/too many authentication failures/);
  });

  it('a success clears the count', async () => {
    const policy = new AccessPolicy({ throttle: new AuthThrottle(3, 60_000) });
    const { port } = await serve({ password: 'right', policy });
    for (let round = 0; round < 3; round++) {
      expect(await vncAuthAttempt(port, 'nope')).toEqual({ result: 1 });
      expect(await vncAuthAttempt(port, 'nope')).toEqual({ result: 1 });
      expect(await vncAuthAttempt(port, 'right')).toEqual({ result: 0 });
    }
  });
});

describe('connection limit', () => {
  it('refuses the connection past --max-connections with a reason, and admits again once one leaves', async () => {
    const policy = new AccessPolicy({ maxConnections: 2 });
    const { port, listener } = await serve({ policy });
    const a = await connect(port);
    const b = await connect(port);
    expect(await a.hello()).toEqual([1]);
    expect(await b.hello()).toEqual([1]);
    const c = await connect(port);
    expect(await c.hello()).toEqual([]);
    expect(await c.readReason()).toBe('server busy: 2 connections already open');
    a.end();
    await until(() => policy.connections === 1, 'the first connection to be released');
    const d = await connect(port);
    expect(await d.hello()).toEqual([1]);
    expect(listener.sessions.size).toBeLessThanOrEqual(2);
  });
});

describe('unauthenticated access', () => {
  const remote = externalAddress();

  it('None is offered on loopback but refused to a remote address without --insecure', async () => {
    if (!remote) throw new Error('this test needs a non-loopback IPv4 address on this host');
    const { port, logs } = await serve({ host: '0.0.0.0', policy: new AccessPolicy({ insecure: false }) });
    const local = await connect(port, '127.0.0.1');
    expect(await local.hello()).toEqual([1]);
    const far = await connect(port, remote, remote);
    expect(await far.hello()).toEqual([]);
    expect(await far.readReason()).toBe('this server allows unauthenticated access from its own host only');
    await until(() => logs.some((l) => l.startsWith(`client ${remote}:`) && /own host only/.test(l)), 'the refusal in the log');
  });

  it('with --insecure a remote address gets anonymous VeNCrypt TLSNone and None', async () => {
    if (!remote) throw new Error('this test needs a non-loopback IPv4 address on this host');
    const { port } = await serve({ host: '0.0.0.0', policy: new AccessPolicy({ insecure: true }) });
    const far = await connect(port, remote, remote);
    expect(await far.hello()).toEqual([19, 1]);
  });

  it('loopback addresses include IPv4-mapped IPv6', () => {
    expect(isLoopbackAddress('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('::ffff:10.0.0.1')).toBe(false);
    expect(isLoopbackAddress(undefined)).toBe(false);
  });
});

describe('unauthenticated timeout', () => {
  it('a client that stops in the middle of authenticating is dropped with a reason', async () => {
    const policy = new AccessPolicy({ handshakeTimeoutMs: 300 });
    const { port, logs } = await serve({ password: 'pw', policy });
    const c = await connect(port);
    await c.hello();
    c.write([2]);
    await c.read(16); // the challenge; never answered
    await until(() => c.closed, 'the server to drop the silent client');
    expect(logs.some((l) => /handshake not completed within 300 ms/.test(l))).toBe(true);
    expect(policy.connections).toBe(0); // and its slot is free again
  });
});
