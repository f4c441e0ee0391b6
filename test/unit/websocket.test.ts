// The WebSocket transport: upgrade checks, first-byte sniffing, and RFB over a real `ws`
// connection to the web frontend (messages split anywhere, as browsers may).
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { classify } from '../../src/server/transport/sniff.js';
import { refuseUpgrade } from '../../src/server/transport/websocket.js';
import { WebFrontend } from '../../src/server/web/frontend.js';
import type { VncListener } from '../../src/server/listener.js';
import { startListener } from './vencrypt-client.js';

const req = (url: string, headers: Record<string, string>) => ({ url, headers }) as unknown as IncomingMessage;

describe('upgrade checks', () => {
  it('accepts same-origin and origin-less upgrades on the endpoint paths', () => {
    expect(refuseUpgrade(req('/websockify', { host: 'h:6080', origin: 'http://h:6080' }))).toBeUndefined();
    expect(refuseUpgrade(req('/', { host: 'h:6080', origin: 'https://h:6080' }))).toBeUndefined();
    expect(refuseUpgrade(req('/websockify?x=1', { host: 'h:6080' }))).toBeUndefined();
  });
  it('refuses other origins, bad origins and other paths', () => {
    expect(refuseUpgrade(req('/websockify', { host: 'h:6080', origin: 'http://evil:6080' }))).toMatch(/cross-origin/);
    expect(refuseUpgrade(req('/websockify', { host: 'h:6080', origin: 'http://h:6081' }))).toMatch(/cross-origin/);
    expect(refuseUpgrade(req('/websockify', { host: 'h:6080', origin: 'null' }))).toMatch(/bad Origin/);
    expect(refuseUpgrade(req('/other', { host: 'h:6080' }))).toMatch(/no WebSocket endpoint/);
  });
});

describe('first bytes', () => {
  it('tells browsers from the rest', () => {
    expect(classify(Buffer.from('GET / HTTP/1.1\r\n'))).toBe('http');
    expect(classify(Buffer.from('HEAD /x HTTP/1.1'))).toBe('http');
    expect(classify(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))).toBe('tls');
    expect(classify(Buffer.from('RFB 003.008\n'))).toBe('rfb');
    expect(classify(Buffer.from([0x16, 0x01]))).toBe('rfb');
    expect(classify(Buffer.from('get / http'))).toBe('rfb');
  });
});

describe('RFB over WebSocket', () => {
  let listener: VncListener | undefined;
  let web: WebFrontend | undefined;
  afterEach(async () => {
    await web?.close();
    await listener?.close();
  });

  it('a ws client does the handshake and gets ServerInit, even with every byte in its own message', async () => {
    const s = await startListener({});
    listener = s.listener;
    web = new WebFrontend({ log: () => {}, onStream: (stream, info) => s.listener.attach(stream, { ...info, canStartTls: false }) });
    const { port } = await web.listen('127.0.0.1', 0);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/websockify`, ['binary']);
    let received = Buffer.alloc(0);
    let wake: () => void = () => {};
    ws.on('message', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      wake();
    });
    const read = async (n: number) => {
      while (received.length < n) await new Promise<void>((r) => (wake = r));
      const out = received.subarray(0, n);
      received = received.subarray(n);
      return Buffer.from(out);
    };
    await new Promise((r) => ws.once('open', r));
    expect(ws.protocol).toBe('binary');
    expect((await read(12)).toString()).toBe('RFB 003.008\n');
    for (const byte of Buffer.from('RFB 003.008\n')) ws.send(Buffer.from([byte]));
    expect([...(await read(2))]).toEqual([1, 1]); // None only: loopback, no password, no TLS over ws
    ws.send(Buffer.from([1]));
    expect((await read(4)).readUInt32BE(0)).toBe(0);
    ws.send(Buffer.from([1]));
    const init = await read(24);
    expect([init.readUInt16BE(0), init.readUInt16BE(2)]).toEqual([64, 48]);
    ws.close();
    await new Promise<void>((r) => {
      const t = setInterval(() => s.logs.some((l) => /\(ws\): disconnected/.test(l)) && (clearInterval(t), r()), 10);
    });
    expect(s.logs.some((l) => /\(ws\): RFB 3\.8, no authentication, shared/.test(l))).toBe(true);
  });
});
