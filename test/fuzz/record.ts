// Records what real VNC clients send: a TCP proxy between each client (test/helpers/clients.ts)
// and an in-process server keeps the client-to-server bytes of every connection, cut into
// handshake stages and messages. The corpus (test/fuzz/corpus/*.json) seeds the mutation loop.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeVncPort, grabGvnccapture, grabLibvnc, grabRfb2, grabTigervnc } from '../helpers/clients.js';
import { FuzzTarget } from './target.js';
import { Painter } from './observer.js';
import { splitClientStream, toJson, type Recording } from './mutate.js';

export class RecordingProxy {
  private server: Server | undefined;
  /** Client-to-server bytes of each connection, in connection order. */
  readonly streams: Buffer[][] = [];
  private readonly open = new Set<Socket>();

  constructor(private readonly upstreamPort: number) {}

  async listen(port: number): Promise<void> {
    this.server = createServer((client) => {
      const chunks: Buffer[] = [];
      this.streams.push(chunks);
      const upstream = connect(this.upstreamPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.open.add(s);
        s.on('close', () => this.open.delete(s));
        s.on('error', () => {});
      }
      client.on('data', (b: Buffer) => {
        chunks.push(Buffer.from(b));
        upstream.write(b);
      });
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** The real clients recorded, each a function of the proxy port. */
// The painter never stops, so each client is told when to stop rather than to wait for a
// settled picture.
const CLIENTS: Array<[string, (port: number) => Promise<unknown>]> = [
  ['libvnc-raw', (p) => grabLibvnc(p, { encodings: ['raw'], untilMs: 400 })],
  ['libvnc-hextile-16bpp', (p) => grabLibvnc(p, { encodings: ['hextile', 'copyrect'], bpp: 16, untilMs: 400 })],
  ['libvnc-zrle-8bpp', (p) => grabLibvnc(p, { encodings: ['zrle', 'raw'], bpp: 8, untilMs: 400 })],
  ['libvnc-tight-bigendian', (p) => grabLibvnc(p, { encodings: ['tight', 'zlib', 'raw'], bigEndian: true, untilMs: 400 })],
  ['libvnc-rre', (p) => grabLibvnc(p, { encodings: ['rre', 'corre', 'raw'], untilMs: 800 })],
  ['gvnccapture', (p) => grabGvnccapture(p)],
  ['tigervnc-tight', (p) => grabTigervnc(p, { encoding: 'Tight', settleMs: 0 })],
  ['tigervnc-zrle-lowcolour', (p) => grabTigervnc(p, { encoding: 'ZRLE', lowColorLevel: 1, settleMs: 0 })],
  ['rfb2', (p) => grabRfb2(p, { settleMs: 0 })],
];

/** Runs every real client through the proxy; returns one recording per client connection. */
export async function recordCorpus(log: (line: string) => void = () => {}): Promise<Recording[]> {
  const target = await new FuzzTarget({ width: 320, height: 200 }).start();
  const painter = new Painter(target.display, 7);
  painter.start(30);
  const out: Recording[] = [];
  try {
    for (const [name, grab] of CLIENTS) {
      const port = await freeVncPort();
      const proxy = new RecordingProxy(target.port);
      await proxy.listen(port);
      try {
        await grab(port);
      } catch (err) {
        log(`${name}: ${(err as Error).message} (recorded what it sent anyway)`);
      }
      await proxy.close();
      proxy.streams.forEach((chunks, i) => {
        const { messages, rest } = splitClientStream(Buffer.concat(chunks));
        if (rest.length) log(`${name}: ${rest.length} bytes did not split into messages; kept as one more piece`);
        if (rest.length) messages.push(rest);
        if (messages.length) out.push({ client: proxy.streams.length > 1 ? `${name}#${i}` : name, messages });
      });
      log(`${name}: ${proxy.streams.length} connection(s), ${out.at(-1)?.messages.length ?? 0} pieces`);
    }
  } finally {
    painter.stop();
    await target.close();
  }
  return out;
}

export function writeCorpus(dir: string, recordings: Recording[]): void {
  mkdirSync(dir, { recursive: true });
  for (const r of recordings) writeFileSync(join(dir, `${r.client.replace(/[^\w.-]/g, '_')}.json`), toJson(r) + '\n');
}
