// Scroll detection pauses during full-screen motion that is not a scroll, and still finds the
// scroll that follows it.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, type NativeMapping } from '../../src/native.js';
import { CapturedDisplay, PAUSE_AFTER_BIG_CHANGES, PAUSED_LOOK_EVERY, ScrollPacing, type ScrollStep } from '../../src/surface/captured-display.js';
import type { Move } from '../../src/surface/scroll.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { xorshift } from '../helpers/random.js';

describe('ScrollPacing', () => {
  /** Runs captures that all change `share` of the tiles; `moves(i)` says what capture i's detection found. */
  function play(pacing: ScrollPacing, count: number, share: number, moves: (i: number) => number = () => 0): ScrollStep[] {
    const steps: ScrollStep[] = [];
    for (let i = 0; i < count; i++) {
      const step = pacing.next();
      steps.push(step);
      pacing.record(step, share, step === 'detect' ? moves(i) : 0);
    }
    return steps;
  }

  it('detects on every capture while changes are small', () => {
    expect(play(new ScrollPacing(), 20, 0.2)).toEqual(Array(20).fill('detect'));
  });

  it('pauses after big changes without moves, looking again every PAUSED_LOOK_EVERY captures (rehash, then detect)', () => {
    const steps = play(new ScrollPacing(), PAUSE_AFTER_BIG_CHANGES + 3 * PAUSED_LOOK_EVERY, 1);
    expect(steps.slice(0, PAUSE_AFTER_BIG_CHANGES)).toEqual(Array(PAUSE_AFTER_BIG_CHANGES).fill('detect'));
    const paused = steps.slice(PAUSE_AFTER_BIG_CHANGES);
    for (let i = 0; i < paused.length; i += PAUSED_LOOK_EVERY) {
      const cycle = paused.slice(i, i + PAUSED_LOOK_EVERY);
      expect(cycle).toEqual([...Array(PAUSED_LOOK_EVERY - 2).fill('skip'), 'rehash', 'detect']);
    }
  });

  it('a move found, or a small change, ends the pause (after renewing the stale hashes)', () => {
    for (const end of ['move', 'small'] as const) {
      const pacing = new ScrollPacing();
      play(pacing, PAUSE_AFTER_BIG_CHANGES + 1, 1);
      expect(pacing.next()).toBe('skip'); // paused, hashes stale
      // Run to the next look and let it find a move, or be a small change.
      const before: ScrollStep[] = [];
      for (let step = pacing.next(); step !== 'detect'; step = pacing.next()) {
        before.push(step);
        pacing.record(step, 1, 0);
      }
      expect(before.at(-1)).toBe('rehash');
      pacing.record('detect', end === 'move' ? 1 : 0.1, end === 'move' ? 2 : 0);
      expect(play(pacing, 5, 0.2)).toEqual(Array(5).fill('detect'));
    }
  });
});

describe('CapturedDisplay scroll detection around full-screen motion', () => {
  const dirs: string[] = [];
  const mappings: NativeMapping[] = [];
  afterEach(() => {
    for (const m of mappings.splice(0)) m.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps no hashes during noise, then still reports a following scroll as a verified move', async () => {
    const W = 256, H = 256;
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-pacing-'));
    dirs.push(dir);
    const path = join(dir, 'fb');
    writeFileSync(path, Buffer.alloc(W * H * 4));
    const mapping = new native.Mapping(path);
    mappings.push(mapping);
    const plane = { fourcc: Fourcc.XRGB8888, width: W, height: H, stride: W * 4, offset: 0 };
    const display = new CapturedDisplay(
      { description: 'scripted', nextFrame: async () => ({ kind: 'plane', mapping, plane }), close: async () => {} },
      { name: 't', maxFps: 1000, log: () => {}, tileSize: 32 },
    );
    await display.start();
    const next = xorshift(5);
    const show = (pixels: Buffer): Promise<Move[]> => {
      mapping.write(0, pixels);
      const moves = new Promise<Move[]>((resolve) => display.once('damage', (_bitmap: Uint8Array, m: Move[]) => resolve(m)));
      display.wantFrame();
      return moves;
    };
    const noise = (): Buffer => {
      const b = Buffer.alloc(W * H * 4);
      for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(next() & 0xffffff, i);
      return b;
    };
    // Full-screen noise: no moves, and detection pauses.
    for (let i = 0; i < PAUSE_AFTER_BIG_CHANGES + 2 * PAUSED_LOOK_EVERY; i++) expect(await show(noise())).toEqual([]);
    // Text-like rows, then the same rows scrolled up by 8 px every frame: a move must be reported
    // within one look, and it must be the true one.
    const text = Buffer.alloc(W * (H + 8 * 3 * PAUSED_LOOK_EVERY) * 4);
    for (let y = 0; y < text.length / (W * 4); y++) {
      for (let x = 0; x < W; x++) text.writeUInt32LE(((x >> 3) * 7 + (y >> 2) * 13) % 5 === 0 ? 0xffffff : (y * 2654435761) & 0x3f3f3f, (y * W + x) * 4);
    }
    const scrolled = (k: number): Buffer => text.subarray(k * 8 * W * 4, (k * 8 + H) * W * 4);
    await show(scrolled(0));
    let found: Move[] = [];
    let frames = 0;
    for (let k = 1; k <= 2 * PAUSED_LOOK_EVERY && found.length === 0; k++, frames++) found = await show(scrolled(k));
    expect(frames).toBeLessThanOrEqual(PAUSED_LOOK_EVERY + 1);
    expect(found.length).toBeGreaterThan(0);
    for (const m of found) expect(m.dy).toBe(8); // the new rows are the old ones 8 further down
    // Once found, every following scroll frame is detected.
    for (let k = frames + 1; k < frames + 5; k++) expect((await show(scrolled(k))).length).toBeGreaterThan(0);
    await display.close();
  });
});

describe('capture history hashAll', () => {
  it('renews every segment hash, so they match a full capture of the same pixels', () => {
    const W = 200, H = 70, TILE = 32, tilesX = Math.ceil(W / TILE);
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-hashall-'));
    try {
      const next = xorshift(9);
      const pixels = Buffer.alloc(W * H * 4);
      for (let i = 0; i < pixels.length; i += 4) pixels.writeUInt32LE(next() & 0xffffff, i);
      const path = join(dir, 'fb');
      writeFileSync(path, pixels);
      const mapping = new native.Mapping(path);
      const plane = { fourcc: Fourcc.XRGB8888, width: W, height: H, stride: W * 4, offset: 0 };
      const surface = Buffer.alloc(W * H * 4);
      const kept = new Uint8Array(H * tilesX * 8);
      native.captureSync(mapping, plane, surface, TILE, true, undefined, { segmentHashes: kept });
      // Changes captured without history: the kept hashes go stale.
      mapping.write(10 * W * 4, Buffer.alloc(W * 4 * 30, 0x55));
      native.captureSync(mapping, plane, surface, TILE, false);
      // Nothing changes any more; a plain capture leaves them stale, hashAll renews them.
      const plain = native.captureSync(mapping, plane, surface, TILE, false, undefined, { segmentHashes: kept });
      expect(plain.dirtyCount).toBe(0);
      const reference = new Uint8Array(H * tilesX * 8);
      native.captureSync(mapping, plane, Buffer.alloc(W * H * 4), TILE, true, undefined, { segmentHashes: reference });
      expect(Buffer.from(kept).equals(Buffer.from(reference))).toBe(false);
      native.captureSync(mapping, plane, surface, TILE, false, undefined, { segmentHashes: kept, hashAll: true });
      expect(Buffer.from(kept).equals(Buffer.from(reference))).toBe(true);
      expect(() => native.captureSync(mapping, plane, surface, TILE, false, undefined, { segmentHashes: kept, hashAll: 1 as unknown as boolean })).toThrow(/hashAll must be a boolean/);
      mapping.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
