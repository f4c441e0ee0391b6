// A hostile guest in a worker thread (truly concurrent with the server's capture threads):
// speaks the draft region protocol (REFERENCE.md §3: a 28-byte trailer of little-endian u32s
// argsz, format, offset, width, height, stride, state at the end of the file) written here
// from the spec, and between answers changes its plane at random: valid modes in every
// format, nonsense trailers, files shrunk or cut under the reader's mapping, files replaced
// or deleted, silence, garbage state words. It ends on one valid mode and keeps serving it
// until told to stop. Plain JavaScript so it runs in a Worker from vitest and from dist/.
import { closeSync, ftruncateSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync, existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const TRAILER = 28;
const fourcc = (s) => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24) >>> 0;
/** drm_fourcc.h codes and bytes per pixel. */
export const FORMATS = [
  ['XR24', 4], ['AR24', 4], ['XB24', 4], ['AB24', 4], ['RX24', 4], ['BX24', 4],
  ['RG24', 3], ['BG24', 3], ['RG16', 2], ['XR30', 4], ['XB30', 4],
].map(([s, bpp]) => ({ name: s, code: fourcc(s) >>> 0, bpp }));
/** Formats whose bytes are a plain permutation of R, G, B: the final picture is checked exactly. */
export const EXACT = ['XR24', 'XB24', 'RG24', 'BG24'];

/** Byte c of pixel (x, y) in a frame made with `seed`. */
export const patternByte = (x, y, c, seed) => (x * 7 + y * 13 + c * 61 + seed * 29) & 0xff;

function main() {
  const { path, changes, seed, control } = workerData;
  const stop = new Int32Array(control);
  let rngState = seed >>> 0 || 1;
  const rand = () => {
    rngState = (rngState + 0x6d2b79f5) >>> 0;
    let t = rngState;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(rand() * n);
  const pick = (list) => list[int(list.length)];
  const sleep = (ms) => Atomics.wait(stop, 1, 0, ms);

  let fd = openSync(path, 'w+');
  const size = () => fstatSync(fd).size;
  const u32 = Buffer.alloc(4);
  const readState = () => (size() >= TRAILER && readSync(fd, u32, 0, 4, size() - 4) === 4 ? u32.readUInt32LE(0) : 0);
  const writeU32At = (value, at) => {
    u32.writeUInt32LE(value >>> 0, 0);
    writeSync(fd, u32, 0, 4, at);
  };
  /** The trailer this producer answers with (fields may be nonsense). */
  let trailer = null;
  let silentUntil = 0;
  const counts = {};
  const count = (k) => (counts[k] = (counts[k] ?? 0) + 1);

  const writeTrailer = (t) => {
    const base = size() - TRAILER;
    if (base < 0) return;
    const b = Buffer.alloc(24);
    [t.argsz, t.format, t.offset, t.width, t.height, t.stride].forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
    writeSync(fd, b, 0, 24, base);
  };

  const validMode = (exactOnly, frameSeed) => {
    const exactName = pick(EXACT);
    const f = exactOnly ? FORMATS.find((x) => x.name === exactName) : pick(FORMATS);
    const big = rand() < 0.15;
    const width = big ? 1920 : 1 + int(rand() < 0.5 ? 64 : 800);
    const height = big ? 1080 : 1 + int(rand() < 0.5 ? 48 : 600);
    const stride = width * f.bpp + pick([0, 0, 1, 3, 64, 4096]);
    const offset = pick([0, 0, 4096, int(100000), 1]);
    const extent = offset + stride * (height - 1) + width * f.bpp;
    const need = Math.ceil((extent + TRAILER) / 4096) * 4096;
    if (size() < need) ftruncateSync(fd, need);
    const rows = Buffer.alloc(stride * height, 0xee);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < f.bpp; c++) rows[y * stride + x * f.bpp + c] = patternByte(x, y, c, frameSeed);
    writeSync(fd, rows, 0, extent - offset, offset);
    trailer = { argsz: TRAILER, format: f.code, offset, width, height, stride };
    return { format: f.name, width, height, stride, offset, seed: frameSeed };
  };

  const nonsense = () => {
    const t = { ...(trailer ?? { argsz: TRAILER, format: FORMATS[0].code, offset: 0, width: 64, height: 48, stride: 256 }) };
    const what = pick(['width', 'height', 'stride', 'offset', 'format', 'argsz', 'extent']);
    if (what === 'width') t.width = pick([0, 16385, 65535, 0xffffffff]);
    if (what === 'height') t.height = pick([0, 16385, 0x7fffffff, 0xffffffff]);
    if (what === 'stride') t.stride = pick([0, 1, Math.max(0, t.width - 1), 0xffffffff]);
    if (what === 'offset') t.offset = pick([size(), size() - 1, 0x7fffffff, 0xffffffff]);
    if (what === 'format') t.format = pick([0, 0xffffffff, fourcc('NV12') >>> 0, fourcc('YUYV') >>> 0, int(0x100000000)]);
    if (what === 'argsz') t.argsz = pick([0, 27, 29, 0xffffffff]);
    if (what === 'extent') {
      t.width = 16384;
      t.height = 16384;
      t.stride = 65536;
    }
    trailer = t;
    return what;
  };

  /** Answers a pending REQUEST_UPDATE unless silent; returns whether it did. */
  const serveOnce = () => {
    if (Date.now() < silentUntil) return false;
    if (readState() !== 1 || !trailer) return false;
    writeTrailer(trailer);
    writeU32At(2, size() - 4);
    return true;
  };
  const serveFor = (ms) => {
    const end = Date.now() + ms;
    do {
      serveOnce();
      sleep(1);
    } while (Date.now() < end && Atomics.load(stop, 0) === 0);
  };

  let final;
  validMode(false, 1);
  for (let i = 0; i < changes && Atomics.load(stop, 0) === 0; i++) {
    const action = pick(['mode', 'mode', 'mode', 'nonsense', 'nonsense', 'shrink', 'shrink-after-answer', 'cut', 'grow', 'replace', 'delete', 'silent', 'bad-state']);
    count(action);
    try {
      switch (action) {
        case 'mode': validMode(false, 2 + i); break;
        case 'nonsense': count(`nonsense ${nonsense()}`); break;
        case 'shrink': ftruncateSync(fd, Math.max(TRAILER, int(size()))); break;
        case 'shrink-after-answer': {
          // Wait for a request, answer it, then cut the file while the reader captures.
          const end = Date.now() + 50;
          while (Date.now() < end && !serveOnce()) sleep(1);
          for (let spin = int(2000); spin > 0; spin--);
          ftruncateSync(fd, int(Math.max(1, size() / 2)));
          break;
        }
        case 'cut': ftruncateSync(fd, int(TRAILER)); break;
        case 'grow': ftruncateSync(fd, size() + 4096 * (1 + int(256))); break;
        case 'replace': {
          const tmp = `${path}.new`;
          const nfd = openSync(tmp, 'w+');
          ftruncateSync(nfd, size());
          renameSync(tmp, path);
          closeSync(fd);
          fd = nfd;
          validMode(false, 2 + i);
          break;
        }
        case 'delete': {
          unlinkSync(path);
          sleep(int(30));
          closeSync(fd);
          fd = openSync(path, 'w+');
          trailer = null;
          break;
        }
        case 'silent': silentUntil = Date.now() + 50 + int(250); break;
        case 'bad-state': if (size() >= TRAILER) writeU32At(pick([0, 3, 0xffffffff, 0x80000001]), size() - 4); break;
      }
    } catch (err) {
      count(`producer error ${err.code ?? err.message}`);
    }
    serveFor(int(12));
    if (i % 100 === 99) parentPort.postMessage({ kind: 'progress', done: i + 1 });
  }
  silentUntil = 0;
  if (!existsSync(path)) fd = openSync(path, 'w+');
  final = validMode(true, 777);
  parentPort.postMessage({ kind: 'final', final, counts });
  while (Atomics.load(stop, 0) === 0) {
    serveOnce();
    sleep(1);
  }
  closeSync(fd);
}

if (parentPort && workerData?.path) main();
