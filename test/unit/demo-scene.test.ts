// The demo desktop: deterministic, alive (the clock ticks), and a real picture.
import { describe, expect, it } from 'vitest';
import { renderScene } from '../../src/source/demo-scene.js';
import { GLYPH_ROWS, glyphRows } from '../../src/source/font.js';

const W = 1280, H = 720;
const T = Date.UTC(2025, 0, 1, 13, 37, 42, 100);

function render(t: number, w = W, h = H): Buffer {
  const buf = Buffer.alloc(w * h * 4);
  renderScene(buf, w, h, t);
  return buf;
}

/** Bytes of a rectangle, rows concatenated. */
function region(buf: Buffer, w: number, x: number, y: number, rw: number, rh: number): Buffer {
  const rows: Buffer[] = [];
  for (let yy = y; yy < y + rh; yy++) rows.push(buf.subarray((yy * w + x) * 4, (yy * w + x + rw) * 4));
  return Buffer.concat(rows);
}

describe('renderScene', () => {
  it('is deterministic for a given time, whatever was rendered before', () => {
    const a = render(T);
    render(T + 12345);
    render(T, 640, 480);
    expect(render(T).equals(a)).toBe(true);
  });

  it('ticks the clock: the bottom-right corner differs a second later, not within the second', () => {
    const clock = (buf: Buffer): Buffer => region(buf, W, W - 120, H - 36, 120, 36);
    const now = clock(render(T));
    expect(clock(render(T + 500)).equals(now)).toBe(true);
    expect(clock(render(T + 1000)).equals(now)).toBe(false);
  });

  it('moves over time (a later frame differs)', () => {
    expect(render(T + 3000).equals(render(T))).toBe(false);
  });

  it('is a real picture: many colours, X bytes zero', () => {
    const buf = render(T);
    const colours = new Set<number>();
    let xNonZero = 0;
    for (let i = 0; i < W * H; i++) {
      colours.add(buf.readUInt32LE(i * 4) & 0xffffff);
      if (buf[i * 4 + 3] !== 0) xNonZero++;
    }
    expect(colours.size).toBeGreaterThan(100);
    expect(xNonZero).toBe(0);
  });

  it.each([
    [640, 480],
    [160, 120],
    [1920, 1080],
  ])('renders at %ix%i without failing', (w, h) => {
    const buf = render(T, w, h);
    expect(buf.some((b) => b !== 0)).toBe(true);
  });

  it('refuses a buffer that is too small', () => {
    expect(() => renderScene(Buffer.alloc(100), W, H, T)).toThrow(/smaller than/);
  });

  it('renders into an unaligned buffer view the same as into an aligned one', () => {
    const backing = Buffer.alloc(64 * 48 * 4 + 1);
    const view = backing.subarray(1);
    renderScene(view, 64, 48, T);
    expect(Buffer.from(view).equals(render(T, 64, 48))).toBe(true);
  });
});

describe('font', () => {
  it('has a distinct glyph for each printable ASCII character, ink for all but space', () => {
    const seen = new Set<string>();
    for (let code = 0x20; code <= 0x7e; code++) {
      const rows = glyphRows(String.fromCharCode(code));
      expect(rows.length).toBe(GLYPH_ROWS);
      const key = Array.from(rows).join(',');
      expect(seen.has(key), String.fromCharCode(code)).toBe(false);
      seen.add(key);
      if (code !== 0x20) expect(rows.some((r) => r !== 0)).toBe(true);
    }
  });
});
