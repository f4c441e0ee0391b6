import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, type NativeMapping, type PlaneGeometry } from '../../src/native.js';
import { CapturedDisplay, FULL_PASS_EVERY_TICKS, PROBE_AFTER_IDLE_TICKS, PROBE_ROW_STEP } from '../../src/surface/captured-display.js';
import type { Frame, FrameSource } from '../../src/source/types.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { SIG_REFRESH_MS, type SourceSignatures } from '../../src/surface/source-sigs.js';

/** A source over a plain file of XRGB8888 pixels whose frames the test dictates. */
class ScriptedSource implements FrameSource {
  readonly description = 'scripted';
  calls = 0;
  next: () => Frame;
  constructor(frame: () => Frame) {
    this.next = frame;
  }
  async nextFrame(): Promise<Frame> {
    this.calls++;
    return this.next();
  }
  async close(): Promise<void> {}
}

const dirs: string[] = [];
const mappings: NativeMapping[] = [];
afterEach(() => {
  for (const m of mappings.splice(0)) m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fileWith(pixels: Buffer): { path: string; mapping: NativeMapping } {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-display-'));
  dirs.push(dir);
  const path = join(dir, 'fb');
  writeFileSync(path, pixels);
  const mapping = new native.Mapping(path);
  mappings.push(mapping);
  return { path, mapping };
}

function plane(width: number, height: number): PlaneGeometry {
  return { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextEvent = <T>(d: CapturedDisplay, name: string) => new Promise<T>((r) => d.once(name, r));

describe('CapturedDisplay', () => {
  it('takes the guest mode on start and announces later mode changes with the new pixels', async () => {
    const a = fileWith(Buffer.alloc(64 * 32 * 4, 0x11));
    const b = fileWith(Buffer.alloc(96 * 40 * 4, 0x22));
    let frame: Frame = { kind: 'plane', mapping: a.mapping, plane: plane(64, 32) };
    const display = new CapturedDisplay(new ScriptedSource(() => frame), { name: 't', maxFps: 100, log: () => {} });
    await display.start();
    expect([display.surface.width, display.surface.height]).toEqual([64, 32]);
    expect(display.surface.data[5]).toBe(0x11);
    frame = { kind: 'plane', mapping: b.mapping, plane: plane(96, 40) };
    const resized = nextEvent<{ width: number; height: number; data: Buffer }>(display, 'resize');
    display.wantFrame();
    const s = await resized;
    expect([s.width, s.height, display.grid.width]).toEqual([96, 40, 96]);
    expect(s.data[5]).toBe(0x22);
    expect(s.data[3]).toBe(0); // X byte of the canonical surface
    await display.close();
  });

  it('reports exactly the tiles that changed', async () => {
    const pixels = Buffer.alloc(128 * 64 * 4, 0x40);
    const f = fileWith(pixels);
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(128, 64) })), {
      name: 't', maxFps: 100, log: () => {}, tileSize: 32,
    });
    await display.start();
    f.mapping.writeU32((40 * 128 + 100) * 4, 0x00ff0000); // pixel (100, 40): tile (3, 1)
    const damage = nextEvent<Uint8Array>(display, 'damage');
    display.wantFrame();
    const bitmap = await damage;
    expect([...bitmap]).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(display.surface.data.readUInt32LE((40 * 128 + 100) * 4)).toBe(0x00ff0000);
    await display.close();
  });

  it('does not read the framebuffer while nobody wants a frame, and polls while someone does', async () => {
    const f = fileWith(Buffer.alloc(32 * 32 * 4));
    const source = new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(32, 32) }));
    const display = new CapturedDisplay(source, { name: 't', maxFps: 200, log: () => {}, idleIntervalMs: 20 });
    await display.start();
    const afterStart = source.calls;
    await sleep(150);
    expect(source.calls).toBe(afterStart);
    display.wantFrame(); // an unchanged screen: keeps polling (backing off) until damage
    await sleep(150);
    expect(source.calls).toBeGreaterThan(afterStart + 2);
    await display.close();
    const atClose = source.calls;
    await sleep(60);
    expect(source.calls).toBe(atClose);
  });

  it('never writes a held buffer: a waiting client gets the frame in the spare, a capture ahead waits', async () => {
    const w = 64, h = 32;
    const f = fileWith(Buffer.alloc(w * h * 4, 0x10));
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(w, h) })), {
      name: 't', maxFps: 200, log: () => {}, tileSize: 16, // 4×2 tiles
    });
    await display.start();
    const at = (x: number, y: number) => (y * w + x) * 4;
    const first = display.surface.data;
    const releaseFirst = display.hold()!; // a slow encoder reads the first frame
    // A client is waiting: the frame goes into the spare, which becomes the surface.
    f.mapping.writeU32(at(40, 5), 0x00123456);
    let damage = nextEvent<Uint8Array>(display, 'damage');
    display.wantFrame();
    expect([...(await damage)]).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
    expect(display.surface.data).not.toBe(first);
    expect(display.surface.data.readUInt32LE(at(40, 5))).toBe(0x00123456);
    expect(first.readUInt32LE(at(40, 5))).toBe(0x00101010);
    // Both buffers held, nobody asked: the capture ahead waits.
    const releaseSecond = display.hold()!;
    f.mapping.writeU32(at(3, 20), 0x00654321);
    let damaged = false;
    display.once('damage', () => (damaged = true));
    await sleep(80);
    expect(damaged).toBe(false);
    // Released: the front is written in place (holds are refused until that write is over).
    damage = nextEvent<Uint8Array>(display, 'damage');
    const free = nextEvent<void>(display, 'surface-free');
    const second = display.surface.data;
    releaseSecond();
    releaseSecond(); // a second call is harmless
    expect([...(await damage)]).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
    expect(display.surface.data).toBe(second);
    await free;
    expect(first.readUInt32LE(at(3, 20))).toBe(0x00101010);
    expect(first.readUInt32LE(at(40, 5))).toBe(0x00101010);
    releaseFirst();
    // The front held again: the spare (two frames behind) catches up before the capture writes it.
    const releaseThird = display.hold()!;
    f.mapping.writeU32(at(63, 31), 0x00abcdef);
    damage = nextEvent<Uint8Array>(display, 'damage');
    display.wantFrame();
    expect([...(await damage)]).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(display.surface.data).toBe(first);
    const expected = f.mapping.read(0, w * h * 4);
    for (let i = 0; i < w * h; i++) expected.writeUInt32LE(expected.readUInt32LE(i * 4) & 0x00ffffff, i * 4);
    expect(display.surface.data.equals(expected)).toBe(true);
    expect(second.readUInt32LE(at(63, 31))).toBe(0x00101010);
    releaseThird();
    await display.close();
  });

  it('a failure after the spare became the surface does not draw into it once held (the "no signal" screen waits)', async () => {
    const f = fileWith(Buffer.alloc(64 * 64 * 4, 0x40));
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(64, 64) })), {
      name: 't', maxFps: 200, log: () => {},
    });
    await display.start();
    const releaseOld = display.hold()!; // an encoder reads the front: the next frame goes into the spare
    f.mapping.writeU32(0, 0x00ff0000);
    let held: Buffer | undefined, snapshot: Buffer | undefined;
    display.once('damage', () => {
      display.hold(); // a client starts encoding the new surface ...
      held = display.surface.data;
      snapshot = Buffer.from(held);
      throw new Error('a listener fails'); // ... and something else in the tick fails
    });
    display.wantFrame();
    await sleep(100);
    expect(held).toBeDefined();
    expect(held!.equals(snapshot!)).toBe(true);
    releaseOld();
    await display.close();
  });

  it('refuses holds while a capture writes the surface, and says when it is free again', async () => {
    const f = fileWith(Buffer.alloc(64 * 32 * 4, 0x10));
    let answer: (() => void) | undefined;
    const source = new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(64, 32) }));
    const display = new CapturedDisplay(source, { name: 't', maxFps: 200, log: () => {} });
    await display.start();
    // The next frame's answer is late; once it is in, the capture writes the surface.
    source.nextFrame = () => new Promise((resolve) => (answer = () => resolve({ kind: 'plane', mapping: f.mapping, plane: plane(64, 32) })));
    f.mapping.writeU32(0, 0x00abcdef);
    const order: string[] = [];
    display.once('damage', () => order.push(`damage, hold ${display.hold() === undefined ? 'refused' : 'given'}`));
    display.once('surface-free', () => {
      const release = display.hold();
      order.push(`free, hold ${release === undefined ? 'refused' : 'given'}`);
      release?.();
    });
    display.wantFrame();
    await sleep(20);
    expect(display.hold()?.call(undefined)).toBeUndefined(); // given (and released) while only waiting for the guest
    answer!();
    await sleep(50);
    expect(order).toEqual(['damage, hold refused', 'free, hold given']);
    await display.close();
  });

  it('keeps capturing ahead while the picture changes and a client listens, and stops once it is still', async () => {
    const f = fileWith(Buffer.alloc(32 * 32 * 4));
    const source = new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(32, 32) }));
    const display = new CapturedDisplay(source, { name: 't', maxFps: 200, log: () => {}, idleIntervalMs: 20 });
    await display.start();
    let damages = 0;
    display.on('damage', () => damages++);
    let n = 0;
    // A change in every row, so the idle probe (every 16th row) cannot miss it either.
    const drawing = setInterval(() => {
      n++;
      for (let y = 0; y < 32; y++) f.mapping.writeU32(y * 32 * 4, n);
    }, 10);
    display.wantFrame(); // once: no session asks again
    await sleep(200);
    clearInterval(drawing);
    expect(damages).toBeGreaterThan(3);
    await sleep(100);
    const still = source.calls;
    await sleep(150);
    expect(source.calls).toBe(still);
    await display.close();
  });

  it('shows a "no signal" screen once per reason, and the picture again when the guest is back', async () => {
    const f = fileWith(Buffer.alloc(64 * 48 * 4, 0x33));
    let frame: Frame = { kind: 'no-signal', reason: 'guest is not scanning out' };
    const lines: string[] = [];
    const display = new CapturedDisplay(new ScriptedSource(() => frame), {
      name: 't', maxFps: 100, log: (m) => lines.push(m), defaultWidth: 640, defaultHeight: 480,
    });
    await display.start();
    expect([display.surface.width, display.surface.height]).toEqual([640, 480]);
    const colours = new Set<number>();
    for (let i = 0; i < display.surface.data.length; i += 4) colours.add(display.surface.data.readUInt32LE(i));
    expect(colours.size).toBeGreaterThan(1); // the reason is written, not a blank screen
    display.wantFrame();
    await sleep(50);
    expect(lines.filter((l) => /no signal: guest is not scanning out/.test(l))).toHaveLength(1);
    frame = { kind: 'plane', mapping: f.mapping, plane: plane(64, 48) };
    const resized = nextEvent(display, 'resize');
    display.wantFrame();
    await resized;
    expect(display.surface.data[0]).toBe(0x33);
    expect(lines.some((l) => /picture back/.test(l))).toBe(true);
    await display.close();
  });

  it('turns a capture the native layer refuses into "no signal" with the reason', async () => {
    const f = fileWith(Buffer.alloc(16 * 16 * 4));
    const lines: string[] = [];
    // Stride too small for the width: the guest lies; the native layer refuses before reading.
    const bad: PlaneGeometry = { ...plane(16, 16), stride: 8 };
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: bad })), {
      name: 't', maxFps: 100, log: (m) => lines.push(m),
    });
    await display.start();
    expect(lines.join('\n')).toMatch(/no signal: capture failed: .*stride/);
    await display.close();
  });

  /** A started display over a w×h file of many colours (tile 16), polled every `idleIntervalMs` while idle. */
  async function patternedDisplay(w: number, h: number, idleIntervalMs: number) {
    const pixels = Buffer.alloc(w * h * 4);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 131) & 0xff;
    const f = fileWith(pixels);
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(w, h) })), {
      name: 't', maxFps: 1000, log: () => {}, tileSize: 16, idleIntervalMs,
    });
    await display.start();
    return { f, display };
  }

  /** Keeps asking for frames until `done()` or the display has captured `maxTicks` more frames. */
  async function pollUntil(display: CapturedDisplay, done: () => boolean, maxTicks: number): Promise<void> {
    const start = display.captures;
    while (!done() && display.captures - start < maxTicks) {
      display.wantFrame();
      await sleep(2);
    }
  }

  it('probes an idle screen, and sees a one-pixel change in any row within PROBE_ROW_STEP ticks', async () => {
    const [w, h] = [96, 80];
    const { f, display } = await patternedDisplay(w, h, 1);
    for (const [x, y] of [[5, 0], [90, 7], [40, 15], [17, 16], [60, 41], [95, 79]]) {
      // Let it go idle: probes stand in for the full pass.
      const probesBefore = display.probeOnlyCaptures;
      await pollUntil(display, () => display.probeOnlyCaptures >= probesBefore + PROBE_AFTER_IDLE_TICKS + 3, 200);
      expect(display.probeOnlyCaptures).toBeGreaterThan(probesBefore);
      const at = (y * w + x) * 4;
      const value = (f.mapping.readU32(at) ^ 0x00010101) >>> 0;
      f.mapping.writeU32(at, value);
      const ticksAtChange = display.captures;
      let damage: Uint8Array | undefined;
      display.once('damage', (d: Uint8Array) => (damage = d));
      await pollUntil(display, () => damage !== undefined, 4 * PROBE_ROW_STEP);
      expect(damage, `pixel (${x}, ${y})`).toBeDefined();
      // The probe rotates through every row phase: at most one full rotation (+ the tick in flight).
      expect(display.captures - ticksAtChange, `pixel (${x}, ${y})`).toBeLessThanOrEqual(PROBE_ROW_STEP + 1);
      const tiles = [...damage!.keys()].filter((i) => damage![i]);
      expect(tiles).toEqual([Math.floor(y / 16) * 6 + Math.floor(x / 16)]);
      expect(display.surface.data.readUInt32LE(at)).toBe(value & 0xffffff);
    }
    await display.close();
  });

  it('still runs a full pass at least every FULL_PASS_EVERY_TICKS ticks of an idle screen', async () => {
    const f = fileWith(Buffer.alloc(32 * 32 * 4, 0x21));
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: plane(32, 32) })), {
      name: 't', maxFps: 1000, log: () => {}, idleIntervalMs: 1,
    });
    await display.start();
    const ticks = 3 * FULL_PASS_EVERY_TICKS;
    const [captures0, probes0] = [display.captures, display.probeOnlyCaptures];
    await pollUntil(display, () => false, ticks);
    const captured = display.captures - captures0;
    const fullPasses = captured - (display.probeOnlyCaptures - probes0);
    expect(display.probeOnlyCaptures - probes0).toBeGreaterThan(0);
    expect(fullPasses).toBeGreaterThanOrEqual(Math.floor(captured / FULL_PASS_EVERY_TICKS));
    await display.close();
  });

  it('a hash collision on an idle, probed screen lasts no longer than the signatures\' refresh time', async () => {
    const [w, h] = [64, 32];
    const { f, display } = await patternedDisplay(w, h, 250);
    const poll = async (done: () => boolean, ms: number) => {
      const end = performance.now() + ms;
      while (!done() && performance.now() < end) {
        display.wantFrame();
        await sleep(5);
      }
    };
    const probed = display.probeOnlyCaptures;
    await poll(() => display.probeOnlyCaptures > probed + 2, 3000); // idle: probes stand in for passes
    // A pixel of row 5 changes, and its segment's signature becomes that of the new pixels: what
    // a hash collision would look like (the old pixels' hash equal to the new ones').
    const at = (5 * w + 10) * 4;
    f.mapping.writeU32(at, (f.mapping.readU32(at) ^ 0x00404040) >>> 0);
    const sigs = (display as unknown as { sigs: SourceSignatures }).sigs.current();
    const fresh = { sigs: Buffer.alloc(sigs.sigs.length), segmentWidth: sigs.segmentWidth };
    native.captureSync(f.mapping, plane(w, h), Buffer.alloc(w * h * 4), 16, true, undefined, undefined, fresh);
    const perRow = sigs.sigs.length / h;
    fresh.sigs.copy(sigs.sigs, 5 * perRow, 5 * perRow, 5 * perRow + 8);
    let damaged = false;
    display.on('damage', () => (damaged = true));
    await poll(() => damaged, SIG_REFRESH_MS + 2000);
    expect(damaged).toBe(true);
    expect(display.surface.data.readUInt32LE(at)).toBe(f.mapping.readU32(at) & 0x00ffffff);
    await display.close();
  }, 15_000);

  it('a new plane layout of the same size is captured in full, not probed against old hashes', async () => {
    const pixels = Buffer.alloc(32 * 32 * 4);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 0xff;
    const f = fileWith(pixels);
    let p: PlaneGeometry = plane(32, 32);
    const display = new CapturedDisplay(new ScriptedSource(() => ({ kind: 'plane', mapping: f.mapping, plane: p })), {
      name: 't', maxFps: 1000, log: () => {}, idleIntervalMs: 1,
    });
    await display.start();
    const probes0 = display.probeOnlyCaptures;
    await pollUntil(display, () => display.probeOnlyCaptures >= probes0 + PROBE_ROW_STEP, 200);
    // Same bytes read as XBGR8888: every row hashes the same, yet red and blue swap.
    p = { ...p, fourcc: Fourcc.XBGR8888 };
    let damaged = false;
    display.once('damage', () => (damaged = true));
    await pollUntil(display, () => damaged, 3);
    expect(damaged).toBe(true);
    expect(display.surface.data[0]).toBe(pixels[2]);
    expect(display.surface.data[2]).toBe(pixels[0]);
    await display.close();
  });
});
