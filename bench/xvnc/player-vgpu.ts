// Plays a frame sequence into vgpu-vnc as a draft-protocol guest (FbRegionProducer), in
// its own process so the benchmark's own work never delays it. Frame N becomes current at
// start + N/fps; its timestamp (CLOCK_MONOTONIC ns: process.hrtime) is written to the
// timestamp file at that moment, as the Xvnc player does. When the server asks for an
// update the producer presents the current frame (stamped with N), or reports "no change"
// if it already has it — a guest that renders at its own rate.
//
//   node player-vgpu.js FRAMES_FILE FRAME_COUNT FB_FILE TS_FILE FPS SECONDS
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { FbRegionProducer } from '../../src/source/fbregion-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { FRAME_BYTES, HEIGHT, STAMP_MODULO, stampFrame, WIDTH } from './frames.js';

const [framesPath, countArg, fbPath, tsPath, fpsArg, secondsArg] = process.argv.slice(2);
const count = Number(countArg), fps = Number(fpsArg), seconds = Number(secondsArg);
if (!framesPath || !fbPath || !tsPath || !(count > 0) || !(fps > 0) || !(seconds > 0)) {
  console.error('usage: player-vgpu FRAMES_FILE FRAME_COUNT FB_FILE TS_FILE FPS SECONDS');
  process.exit(1);
}

const framesFd = openSync(framesPath, 'r');
const tsFd = openSync(tsPath, 'w+');
ftruncateSync(tsFd, 8 * STAMP_MODULO);
const producer = new FbRegionProducer(fbPath);
const geometry = { fourcc: Fourcc.XRGB8888, width: WIDTH, height: HEIGHT, stride: WIDTH * 4, offset: 0 };
const frame = Buffer.alloc(FRAME_BYTES);
const pixels = new Uint32Array(frame.buffer, frame.byteOffset, WIDTH * HEIGHT);
const stampTime = Buffer.alloc(8);

const periodNs = BigInt(Math.round(1e9 / fps));
const start = process.hrtime.bigint();
const end = start + BigInt(Math.round(seconds * 1e9));
let current = -1;
let presented = -1;
let shown = 0;

function load(n: number): void {
  let done = 0;
  const at = (n % count) * FRAME_BYTES;
  while (done < FRAME_BYTES) {
    const got = readSync(framesFd, frame, done, FRAME_BYTES - done, at + done);
    if (got === 0) throw new Error(`${framesPath} ends before frame ${n % count}`);
    done += got;
  }
  stampFrame(pixels, WIDTH, n);
}

function tick(): void {
  const now = process.hrtime.bigint();
  if (now >= end) return finish();
  const n = Number((now - start) / periodNs);
  if (n !== current) {
    current = n;
    stampTime.writeBigUInt64LE(now, 0);
    writeSync(tsFd, stampTime, 0, 8, (n % STAMP_MODULO) * 8);
  }
  const due = start + BigInt(n + 1) * periodNs;
  setTimeout(tick, Math.max(0, Number(due - process.hrtime.bigint()) / 1e6));
}

function finish(): void {
  producer.close();
  closeSync(framesFd);
  closeSync(tsFd);
  presentMs.sort((a, b) => a - b);
  const p50 = presentMs.length ? presentMs[Math.floor(presentMs.length / 2)]!.toFixed(1) : '-';
  console.error(`player-vgpu: frames=${shown} present p50 ${p50} ms`);
  process.exit(0);
}

process.on('SIGTERM', finish);
tick();
// The first frame at once, so the server has a picture before its first request.
load(current);
producer.present(frame, geometry);
presented = current;
// What answering a request costs the guest (read the frame, stamp, write 8 MB): part of
// our latency that a real vGPU guest, rendering in place, would not add.
const presentMs: number[] = [];
producer.serve(
  () => {
    if (current === presented) return null;
    const t0 = process.hrtime.bigint();
    load(current);
    producer.present(frame, geometry);
    presentMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    presented = current;
    shown++;
    return null; // presented already; serve() only confirms the state word
  },
  { pollMs: 1, onError: (err) => console.error(`player-vgpu: ${String(err)}`) },
);
