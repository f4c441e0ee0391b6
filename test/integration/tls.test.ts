// VeNCrypt with real clients: TigerVNC's viewer over X509Vnc and X509Plain (checking our
// self-signed certificate against -X509CA), and gtk-vnc's gvnccapture over VeNCrypt (it picks
// the subtype). Each must show exactly the pixels the producer wrote, and the server log must
// name the VeNCrypt subtype that was really used.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeVncPort, grabGvnccapture, grabTigervnc } from '../helpers/clients.js';
import { assertSameImage } from '../helpers/image.js';
import { BIN } from '../helpers/server.js';
import { TestProducer, expectedRgb, makeImage } from '../helpers/test-producer.js';
import { serveImage } from '../helpers/served-image.js';
import { makeCertificate, makeUsersFile } from './tls-fixtures.js';

describe('VeNCrypt with real clients', () => {
  const image = makeImage(300, 180, { seed: 11 });
  const expected = expectedRgb(image);
  let cert: string;
  const served = serveImage(image, (dir) => {
    const pem = makeCertificate(dir);
    cert = pem.cert;
    const users = makeUsersFile(dir, { alice: 'correct horse', bob: 'battery staple' });
    writeFileSync(join(dir, 'vncpass'), 'sekrit12\n');
    return ['--tls-cert', pem.cert, '--tls-key', pem.key, '--plain-users', users, '--password-file', join(dir, 'vncpass')];
  }, { timeoutMs: 60_000 });

  it('the users file holds salted scrypt hashes, not the passwords', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(join(served.dir, 'users'), 'utf8');
    expect(text).not.toContain('correct horse');
    expect(text).toMatch(/^alice:scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/m);
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('TigerVNC over X509Vnc (certificate checked against -X509CA) shows the exact pixels', async () => {
    const img = await grabTigervnc(served.server.port, { securityTypes: 'X509Vnc', x509CA: cert, password: 'sekrit12', encoding: 'ZRLE' });
    assertSameImage(img, expected, 'TigerVNC X509Vnc');
    await served.server.waitForLog(/VeNCrypt X509Vnc/);
  }, 60_000);

  it('TigerVNC over X509Plain shows the exact pixels and the log names the user', async () => {
    const img = await grabTigervnc(served.server.port, { securityTypes: 'X509Plain', x509CA: cert, user: 'bob', password: 'battery staple' });
    assertSameImage(img, expected, 'TigerVNC X509Plain');
    await served.server.waitForLog(/VeNCrypt X509Plain \(user bob\)/);
  }, 60_000);

  it('TigerVNC over anonymous TLSPlain (no certificate involved) shows the exact pixels', async () => {
    const img = await grabTigervnc(served.server.port, { securityTypes: 'TLSPlain', user: 'alice', password: 'correct horse', encoding: 'Hextile' });
    assertSameImage(img, expected, 'TigerVNC TLSPlain');
    await served.server.waitForLog(/VeNCrypt TLSPlain \(user alice\)/);
  }, 60_000);

  it('TigerVNC with a wrong Plain password is refused', async () => {
    const err = await grabTigervnc(served.server.port, { securityTypes: 'X509Plain', x509CA: cert, user: 'bob', password: 'wrong', timeoutMs: 8000 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/authentication failed|exited/i);
    await served.server.waitForLog(/authentication failed/);
  }, 60_000);

  it('TigerVNC refuses our certificate when told to trust another CA', async () => {
    const other = mkdtempSync(join(tmpdir(), 'vgpu-vnc-ca-'));
    try {
      const { cert: otherCa } = makeCertificate(other);
      // The viewer stops at an "untrusted certificate" question (or exits): never the picture.
      const sessionsBefore = served.server.log().match(/VeNCrypt X509Vnc,/g)?.length ?? 0;
      await expect(
        grabTigervnc(served.server.port, { securityTypes: 'X509Vnc', x509CA: otherCa, password: 'sekrit12', expect: expected, timeoutMs: 6000 }),
      ).rejects.toThrow();
      expect(served.server.log().match(/VeNCrypt X509Vnc,/g)?.length ?? 0).toBe(sessionsBefore);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);
});

/** This host's first non-loopback IPv4 address: connections from it are "remote" to the server. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

/** vgpu-vnc on its own --listen address (startServer always listens on 127.0.0.1). */
async function startServerOn(host: string, args: string[]): Promise<{ port: number; log: () => string; stop: () => Promise<void> }> {
  const port = await freeVncPort();
  const child = spawn(process.execPath, [BIN, ...args, '--listen', `${host}:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/serving .* on /.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

describe('VeNCrypt with gtk-vnc (gvnccapture)', () => {
  const image = makeImage(256, 160, { seed: 5 });
  const address = externalAddress();
  let dir: string;
  let producer: TestProducer;
  let cert: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-tls-'));
    producer = TestProducer.start(image);
    cert = makeCertificate(dir).cert;
  });
  afterAll(() => {
    producer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a remote gvnccapture gets anonymous VeNCrypt TLSNone (--insecure, no password) and the exact pixels', async () => {
    // gvnccapture cannot be given a password, and gtk-vnc reads trusted CAs only from the
    // real user's ~/.pki or /etc/pki: so the TLS it can do in a test is the anonymous kind,
    // which the server offers to remote peers when it runs without a password.
    if (!address) throw new Error('this test needs a non-loopback IPv4 address on this host');
    const server = await startServerOn('0.0.0.0', ['--device', producer.path, '--insecure']);
    try {
      const img = await grabGvnccapture(server.port, { host: address });
      assertSameImage(img, expectedRgb(image), 'gvnccapture VeNCrypt TLSNone');
      expect(server.log()).toMatch(new RegExp(`client ${address.replace(/\./g, '\\.')}:\\d+: RFB 3\\.8, VeNCrypt TLSNone`));
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('gvnccapture without our CA refuses X509None (the certificate really is presented and checked)', async () => {
    const server = await startServerOn('127.0.0.1', ['--device', producer.path, '--tls-cert', cert, '--tls-key', join(dir, 'key.pem')]);
    try {
      await expect(grabGvnccapture(server.port)).rejects.toThrow(/gvnccapture/);
      expect(server.log()).not.toMatch(/RFB 3\.8, VeNCrypt/);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
