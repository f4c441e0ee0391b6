// Many clients on one 1080p source: the real vgpu-vnc command serves a draft-protocol file
// that this process animates (a moving window and a clock band, every frame), while N
// well-behaved clients (half Raw, half ZRLE) ask for updates as fast as they come and one
// more client stalls. Measures updates/s per client and the server's peak RSS (VmHWM).
import { connect, type Socket } from 'node:net';
import { openSync, closeSync, writeSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FbRegionProducer } from '../../src/source/fbregion-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { startServer } from '../helpers/server.js';
import { build } from '../fuzz/messages.js';
import { CountingClient } from './counting-client.js';

export interface ManyOptions {
  clients: number;
  seconds: number;
  stalled?: boolean;
  width?: number;
  height?: number;
}

export interface ManyResult {
  clients: number;
  seconds: number;
  /** Updates per second, per client: min, median, max. */
  updatesPerSecond: { min: number; median: number; max: number };
  /** Clients that received at least one update in each quarter of the window. */
  clientsServedThroughout: number;
  framesProduced: number;
  serverRssBaselineMiB: number;
  serverPeakRssMiB: number;
  stalledDropped: boolean | undefined;
  serverLogTail: string[];
  failures: string[];
}

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export async function runMany(opts: ManyOptions): Promise<ManyResult> {
  const width = opts.width ?? 1920, height = opts.height ?? 1080;
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-many-'));
  const path = join(dir, 'fb');
  const stride = width * 4;
  const frame = Buffer.alloc(stride * height);
  for (let i = 0; i < frame.length; i += 4) frame.writeUInt32LE(((i / 4) % width) * 0x010203 & 0xffffff, i);
  const producer = new FbRegionProducer(path);
  const geometry = { fourcc: Fourcc.XRGB8888, width, height, stride, offset: 0 };
  producer.present(frame, geometry);
  const fd = openSync(path, 'r+');
  let frames = 0;
  // Each frame: a 320x240 window moves 8 px and the clock band (top 32 rows) changes; only
  // the rows that changed are written.
  producer.serve(() => {
    frames++;
    const bx = (frames * 8) % (width - 320), by = 200 + ((frames * 3) % (height - 480));
    for (let y = by; y < by + 240; y++) frame.fill(frames & 0xff, y * stride + bx * 4, y * stride + (bx + 320) * 4);
    frame.fill((frames * 7) & 0xff, 0, 32 * stride);
    writeSync(fd, frame, 0, 32 * stride, 0);
    writeSync(fd, frame, by * stride, 240 * stride, by * stride);
    return null;
  }, { pollMs: 1 });

  const failures: string[] = [];
  // The default connection limit (16) would refuse most of them: raise it for this test.
  const server = await startServer(['--device', path, '--max-fps', '30', '--max-connections', String(opts.clients + 8)]);
  const pid = server.process.pid!;
  const clients: CountingClient[] = [];
  let stalled: Socket | undefined;
  let result: ManyResult | undefined;
  try {
    await new Promise((r) => setTimeout(r, 300));
    const baseline = rssKiB(pid, 'VmRSS');
    for (let i = 0; i < opts.clients; i++) {
      const s = await new Promise<Socket>((resolve, reject) => {
        const c = connect(server.port, '127.0.0.1', () => resolve(c));
        c.once('error', reject);
      });
      clients.push(new CountingClient(s, i % 2 ? 16 : 0, width, height));
    }
    if (opts.stalled) {
      stalled = connect(server.port, '127.0.0.1');
      stalled.on('error', () => {});
      stalled.write(Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1]), build.setEncodings([0]), build.updateRequest(false, 0, 0, width, height)]));
      stalled.pause();
    }
    // Let every client get its first full frame before the window starts.
    const deadline = Date.now() + 60_000;
    while (clients.some((c) => c.updates.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const start = performance.now();
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(pid, 'VmRSS'))), 200);
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    clearInterval(sampler);
    const end = performance.now();
    const quarter = (end - start) / 4;
    const rates = clients.map((c) => c.updates.filter((t) => t >= start && t < end).length / ((end - start) / 1000)).sort((a, b) => a - b);
    const throughout = clients.filter((c) => [0, 1, 2, 3].every((q) => c.updates.some((t) => t >= start + q * quarter && t < start + (q + 1) * quarter))).length;
    if (throughout < clients.length) failures.push(`${clients.length - throughout} of ${clients.length} clients went a quarter of the window without an update`);
    if (clients.some((c) => c.closed)) failures.push(`${clients.filter((c) => c.closed).length} clients were disconnected`);
    const hwm = rssKiB(pid, 'VmHWM');
    result = {
      clients: opts.clients,
      seconds: opts.seconds,
      updatesPerSecond: { min: rates[0] ?? 0, median: rates[Math.floor(rates.length / 2)] ?? 0, max: rates.at(-1) ?? 0 },
      clientsServedThroughout: throughout,
      framesProduced: frames,
      serverRssBaselineMiB: baseline / 1024,
      serverPeakRssMiB: Math.max(hwm, peakRss) / 1024,
      stalledDropped: opts.stalled ? /stopped reading|not reading/.test(server.log()) : undefined,
      serverLogTail: server.log().trim().split('\n').slice(-5),
      failures,
    };
  } finally {
    for (const c of clients) c.socket.destroy();
    stalled?.destroy();
    await server.stop();
    producer.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
