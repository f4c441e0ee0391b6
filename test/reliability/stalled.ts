// Stalled clients, in process so the server's own queue can be read: a 1080p screen changes
// in full at a fixed rate while one client stops reading (it keeps asking for updates, the
// worst case) and a well-behaved observer keeps decoding. The stalled client's unsent bytes
// are sampled throughout; it must stay under QEMU's bound, 5 × max(one frame, 1 MiB), and
// be dropped once the stall timeout passes. A second stalled client floods fences (answers
// bypass update coalescing) and must be dropped by the output limit.
import { connect, type Socket } from 'node:net';
import { VncListener } from '../../src/server/listener.js';
import { FakeDisplay } from '../helpers/fake-display.js';
import { Observer, RAW } from '../fuzz/observer.js';
import { build } from '../fuzz/messages.js';
import { CountingClient } from './counting-client.js';

export interface StallOptions {
  /** How long the client stops reading (the issue asks for 60 s). */
  stallSeconds: number;
  /** Server's stall timeout (default 20 s, TigerVNC's ClientWaitTimeMillis). */
  stallTimeoutMs?: number;
  width?: number;
  height?: number;
  /** Full-screen changes per second. */
  fps?: number;
  /** Also run the fence-flooding client. */
  fenceFlood?: boolean;
}

export interface StallResult {
  frameBytes: number;
  /** 5 × max(frame, 1 MiB). */
  boundBytes: number;
  peakQueuedBytes: number;
  /** When the server dropped the stalled client (seconds after it stopped reading), if it did. */
  droppedAfterSeconds: number | undefined;
  dropReason: string | undefined;
  fenceFlood?: { peakQueuedBytes: number; dropReason: string | undefined; fencesSent: number };
  observerUpdatesPerSecond: number;
  observerExact: boolean;
  paints: number;
  failures: string[];
}

async function stalledClient(port: number): Promise<Socket> {
  const s = await new Promise<Socket>((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
  s.on('error', () => {});
  // Pipelined handshake (3.8, None, shared), Raw, a full request: then it never reads again.
  s.write(Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1]), build.setEncodings([RAW])]));
  s.pause();
  return s;
}

export async function runStall(opts: StallOptions): Promise<StallResult> {
  const width = opts.width ?? 1920, height = opts.height ?? 1080, fps = opts.fps ?? 30;
  const display = new FakeDisplay(width, height, 32, 'stall test');
  display.fillPattern(1);
  const log: string[] = [];
  const listener = new VncListener(display, {
    host: '127.0.0.1', port: 0, viewOnly: true, log: (l) => log.push(l), stallTimeoutMs: opts.stallTimeoutMs,
  });
  const { port } = await listener.listen();
  const failures: string[] = [];
  const frameBytes = width * height * 4;
  const boundBytes = 5 * Math.max(frameBytes, 1024 * 1024);

  // A counting client watches during the stall (decoding 1080p in JS would slow the whole
  // process); a decoding observer checks the picture at the end.
  const watcher = await CountingClient.connect(port, RAW, width, height);
  // Full-screen change: every pixel's bytes shift (cheap: one fill), all tiles damaged.
  let paints = 0;
  const painter = setInterval(() => {
    const v = paints++ & 0xff;
    display.surface.data.fill(Buffer.from([v, 255 - v, v ^ 0x5a, 0]));
    display.damageAll();
  }, 1000 / fps);

  const sessionsBefore = new Set(listener.sessions);
  const stalled = await stalledClient(port);
  const stalledAt = performance.now();
  let fenceClient: Socket | undefined;
  let fencesSent = 0;
  let fenceTimer: NodeJS.Timeout | undefined;
  if (opts.fenceFlood) {
    fenceClient = await stalledClient(port);
    const fence = build.fence(0x80000000, Buffer.alloc(64));
    // Enough to pass the output limit within a second or two, kernel buffers included.
    const burst = Buffer.concat(Array.from({ length: 4096 }, () => fence));
    fenceTimer = setInterval(() => {
      if (fenceClient!.destroyed) return;
      fenceClient!.write(burst);
      fencesSent += 4096;
    }, 5);
  }
  // Keep asking for updates without reading, as a hung viewer's sender thread might.
  const asker = setInterval(() => {
    if (!stalled.destroyed) stalled.write(build.updateRequest(true, 0, 0, width, height));
  }, 50);

  // The sessions that appeared are the stalled ones, in connection order.
  await new Promise((r) => setTimeout(r, 100));
  const newSessions = [...listener.sessions].filter((s) => !sessionsBefore.has(s));
  const [stalledSession, fenceSession] = newSessions;
  let peak = 0, fencePeak = 0;
  let droppedAfter: number | undefined;
  let dropReason: string | undefined, fenceReason: string | undefined;
  stalledSession?.once('close', (reason: string) => {
    droppedAfter = (performance.now() - stalledAt) / 1000;
    dropReason = reason;
  });
  fenceSession?.once('close', (reason: string) => (fenceReason = reason));
  const sampler = setInterval(() => {
    if (stalledSession && !stalledSession.isClosed) peak = Math.max(peak, stalledSession.queuedBytes);
    if (fenceSession && !fenceSession.isClosed) fencePeak = Math.max(fencePeak, fenceSession.queuedBytes);
  }, 2);

  const updatesAtStart = watcher.updates.length;
  await new Promise((r) => setTimeout(r, opts.stallSeconds * 1000));
  const observerUpdatesPerSecond = (watcher.updates.length - updatesAtStart) / opts.stallSeconds;
  // The fence flood keeps going until the server drops it (kernel buffers absorb the first
  // megabytes, so on a busy machine that can take longer than a short stall window).
  const floodDeadline = Date.now() + (opts.stallTimeoutMs ?? 20_000) + 15_000;
  while (opts.fenceFlood && fenceReason === undefined && Date.now() < floodDeadline) await new Promise((r) => setTimeout(r, 50));
  clearInterval(asker);
  clearInterval(fenceTimer);
  clearInterval(painter);
  clearInterval(sampler);

  let observerExact = true;
  const observer = await Observer.start(port, RAW);
  try {
    await observer.waitForMatch(display, 20_000);
  } catch (err) {
    observerExact = false;
    failures.push((err as Error).message);
  }
  if (!stalledSession) failures.push('the stalled client never got a session');
  if (peak > boundBytes) failures.push(`stalled client held ${peak} bytes, over the bound ${boundBytes}`);
  if (droppedAfter === undefined) failures.push(`stalled client still connected after ${opts.stallSeconds} s`);
  if (opts.fenceFlood && fenceReason === undefined) failures.push('fence-flooding client was not dropped');
  if (fencePeak > boundBytes) failures.push(`fence-flooding client held ${fencePeak} bytes, over the bound ${boundBytes}`);
  if (observer.closed || observer.error) failures.push(`observer: ${observer.error ?? 'disconnected'}`);
  if (watcher.closed) failures.push('the well-behaved client was disconnected');
  if (observerUpdatesPerSecond === 0) failures.push('the well-behaved client got no updates during the stall');

  stalled.destroy();
  fenceClient?.destroy();
  observer.close();
  watcher.socket.destroy();
  await listener.close();
  return {
    frameBytes,
    boundBytes,
    peakQueuedBytes: peak,
    droppedAfterSeconds: droppedAfter,
    dropReason,
    fenceFlood: opts.fenceFlood ? { peakQueuedBytes: fencePeak, dropReason: fenceReason, fencesSent } : undefined,
    observerUpdatesPerSecond,
    observerExact,
    paints,
    failures,
  };
}
