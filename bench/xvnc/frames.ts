// The benchmark's frame sequences: 1920×1080 XRGB8888 (bytes B,G,R,0), generated
// deterministically into one file per content that both players read, so vgpu-vnc and
// Xvnc are shown exactly the same pixels. Each sequence loops seamlessly; the frame
// number is stamped over the top-left corner by the player at presentation time.
import { closeSync, openSync, writeSync } from 'node:fs';
import { drawText, type PixelCanvas } from '../../src/source/font.js';
import { xorshift } from '../../test/helpers/random.js'; // a fixed sequence for a fixed seed: every run shows the same pixels

export const WIDTH = 1920;
export const HEIGHT = 1080;
export const FRAME_BYTES = WIDTH * HEIGHT * 4;

export const CONTENTS = ['desktop', 'scroll', 'plasma', 'noise'] as const;
export type Content = (typeof CONTENTS)[number];

/** Frames in the loop. Scroll: 150 frames × 8 px = a 1200-row document, longer than the screen. */
export function frameCount(content: Content): number {
  return content === 'scroll' ? 150 : 120;
}

// ---- the frame-number stamp (same layout as frame-stamp.h; C and TS must agree) ----
const STAMP_CELL = 8;
const STAMP_BITS = 16;
export const STAMP_MODULO = 1 << STAMP_BITS;

/** Writes n (mod 65536) and its complement as 16×2 black/white 8×8 cells at (0, 0). */
export function stampFrame(pixels: Uint32Array, width: number, n: number): void {
  const rows = [n & 0xffff, ~n & 0xffff];
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < STAMP_BITS; c++) {
      const colour = (rows[r]! >> (STAMP_BITS - 1 - c)) & 1 ? 0x00ffffff : 0;
      for (let y = 0; y < STAMP_CELL; y++) {
        const base = (r * STAMP_CELL + y) * width + c * STAMP_CELL;
        pixels.fill(colour, base, base + STAMP_CELL);
      }
    }
  }
}

/** Reads the stamp back (tests and sanity checks): n mod 65536, or -1 when the rows disagree. */
export function readStamp(pixels: Uint32Array, width: number): number {
  const rows = [0, 0];
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < STAMP_BITS; c++) {
      const p = pixels[(r * STAMP_CELL + STAMP_CELL / 2) * width + c * STAMP_CELL + STAMP_CELL / 2]!;
      const luma = (((p >> 16) & 255) * 2 + ((p >> 8) & 255) * 5 + (p & 255)) / 8;
      rows[r] = (rows[r]! << 1) | (luma >= 128 ? 1 : 0);
    }
  }
  return (rows[0]! ^ rows[1]!) === 0xffff ? rows[0]! : -1;
}

// ---- generators ----


const rgb = (r: number, g: number, b: number): number => ((r & 255) << 16) | ((g & 255) << 8) | (b & 255);

function fillRect(c: PixelCanvas, x: number, y: number, w: number, h: number, colour: number): void {
  for (let j = Math.max(0, y); j < Math.min(c.height, y + h); j++) {
    c.pixels.fill(colour, j * c.width + Math.max(0, x), j * c.width + Math.min(c.width, x + w));
  }
}

function words(rand: () => number, chars: number): string {
  let s = '';
  while (s.length < chars) {
    const len = 2 + (rand() % 9);
    for (let i = 0; i < len; i++) s += String.fromCharCode(97 + (rand() % 26));
    s += rand() % 7 === 0 ? '(); ' : ' ';
  }
  return s.slice(0, chars);
}

/** Desktop: a static wallpaper with windows and a taskbar; only a cursor-sized sprite and a clock move. */
function desktopRenderer(count: number): (i: number, c: PixelCanvas) => void {
  const base: PixelCanvas = { pixels: new Uint32Array(WIDTH * HEIGHT), width: WIDTH, height: HEIGHT };
  for (let y = 0; y < HEIGHT; y++) {
    base.pixels.fill(rgb(30 + (y * 40) / HEIGHT, 60 + (y * 50) / HEIGHT, 110 + (y * 60) / HEIGHT), y * WIDTH, (y + 1) * WIDTH);
  }
  const rand = xorshift(7);
  const windows = [[120, 100, 900, 560], [700, 300, 980, 600], [200, 620, 640, 360]] as const;
  for (const [x, y, w, h] of windows) {
    fillRect(base, x - 1, y - 1, w + 2, h + 2, rgb(20, 20, 20));
    fillRect(base, x, y, w, h, rgb(245, 245, 240));
    fillRect(base, x, y, w, 28, rgb(60, 90, 150));
    drawText(base, x + 10, y + 9, words(rand, 30), rgb(255, 255, 255), 1);
    for (let line = 0; line * 16 + 44 < h - 10; line++) {
      drawText(base, x + 12, y + 40 + line * 16, words(rand, Math.floor((w - 24) / 6)), rgb(30, 30, 30), 1);
    }
  }
  fillRect(base, 0, HEIGHT - 40, WIDTH, 40, rgb(40, 40, 48));
  const cursor = ['X', 'XX', 'X.X', 'X..X', 'X...X', 'X....X', 'X.....X', 'X......X', 'X.......X',
    'X........X', 'X.....XXXXX', 'X..X..X', 'X.X X..X', 'XX  X..X', 'X    X..X', '     X..X', '      XX'];
  return (i, c) => {
    c.pixels.set(base.pixels);
    const seconds = 10 + Math.floor(i / 30);
    drawText(c, WIDTH - 150, HEIGHT - 30, `09:41:${String(seconds).padStart(2, '0')}`, rgb(230, 230, 230), 2);
    const phase = (2 * Math.PI * i) / count;
    const cx = Math.round(960 + 700 * Math.sin(phase));
    const cy = Math.round(500 + 350 * Math.sin(2 * phase));
    cursor.forEach((row, dy) => {
      for (let dx = 0; dx < row.length; dx++) {
        const ch = row[dx];
        if (ch === 'X' || ch === '.') fillRect(c, cx + dx * 1, cy + dy, 1, 1, ch === 'X' ? 0 : 0xffffff);
      }
    });
  };
}

/** Scroll: a full-screen terminal whose text moves up 8 px per frame (a periodic 1200-row document). */
function scrollRenderer(count: number): (i: number, c: PixelCanvas) => void {
  const docHeight = count * 8;
  const doc: PixelCanvas = { pixels: new Uint32Array(WIDTH * docHeight).fill(rgb(16, 16, 20)), width: WIDTH, height: docHeight };
  const rand = xorshift(11);
  for (let line = 0; line * 20 < docHeight; line++) {
    const indent = (rand() % 6) * 4;
    const colour = line % 9 === 0 ? rgb(120, 200, 120) : rgb(210, 210, 200);
    drawText(doc, 8 + indent * 12, line * 20 + 2, words(rand, 40 + (rand() % 110) - indent), colour, 2);
  }
  return (i, c) => {
    for (let y = 0; y < HEIGHT; y++) {
      const src = ((i * 8 + y) % docHeight) * WIDTH;
      c.pixels.set(doc.pixels.subarray(src, src + WIDTH), y * WIDTH);
    }
  };
}

/** Plasma: four sine fields moving at whole periods per loop, through a smooth palette. */
function plasmaRenderer(count: number): (i: number, c: PixelCanvas) => void {
  const N = 1024;
  const sine = new Int32Array(N);
  for (let k = 0; k < N; k++) sine[k] = Math.round(64 * Math.sin((2 * Math.PI * k) / N));
  const palette = new Uint32Array(512);
  for (let k = 0; k < 512; k++) {
    const t = (2 * Math.PI * k) / 512;
    palette[k] = rgb(128 + 127 * Math.sin(t), 128 + 127 * Math.sin(t + 2.1), 128 + 127 * Math.sin(t + 4.2));
  }
  const px = new Int32Array(WIDTH), py = new Int32Array(HEIGHT), pxy = new Int32Array(WIDTH + HEIGHT);
  for (let x = 0; x < WIDTH; x++) px[x] = Math.round((x * N) / 640);
  for (let y = 0; y < HEIGHT; y++) py[y] = Math.round((y * N) / 420);
  for (let s = 0; s < WIDTH + HEIGHT; s++) pxy[s] = Math.round((s * N) / 900);
  const radial = new Int32Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) radial[y * WIDTH + x] = Math.round((Math.hypot(x - 700, y - 400) * N) / 300);
  }
  const mask = N - 1;
  return (i, c) => {
    const t1 = Math.round((i * N * 1) / count), t2 = Math.round((i * N * 2) / count);
    const t3 = Math.round((i * N * 3) / count), t4 = Math.round((i * N * 2) / count);
    const out = c.pixels;
    for (let y = 0; y < HEIGHT; y++) {
      const vy = sine[(py[y]! + t2) & mask]!;
      const row = y * WIDTH;
      for (let x = 0; x < WIDTH; x++) {
        const v = sine[(px[x]! + t1) & mask]! + vy + sine[(pxy[x + y]! - t3) & mask]! + sine[(radial[row + x]! - t4) & mask]!;
        out[row + x] = palette[(v + 256) & 511]!;
      }
    }
  };
}

/** Noise: every pixel random in every frame (incompressible). */
function noiseRenderer(): (i: number, c: PixelCanvas) => void {
  return (i, c) => {
    // xorshift32 inline (a closure call per pixel is several times slower here).
    let st = (0x9e3779b9 ^ Math.imul(i + 1, 2654435761)) >>> 0 || 1;
    const out = c.pixels;
    for (let k = 0; k < out.length; k++) {
      st ^= st << 13;
      st ^= st >>> 17;
      st ^= st << 5;
      out[k] = st & 0xffffff;
    }
  };
}

/** Draws frame i of the content's loop of `count` frames (also used by bench/zrle.ts). */
export function renderer(content: Content, count: number): (i: number, c: PixelCanvas) => void {
  switch (content) {
    case 'desktop': return desktopRenderer(count);
    case 'scroll': return scrollRenderer(count);
    case 'plasma': return plasmaRenderer(count);
    case 'noise': return noiseRenderer();
  }
}

/** Writes the content's whole loop to `path` (frameCount frames back to back). */
export function generateFrames(content: Content, path: string): number {
  const count = frameCount(content);
  const draw = renderer(content, count);
  const buf = Buffer.alloc(FRAME_BYTES);
  const canvas: PixelCanvas = { pixels: new Uint32Array(buf.buffer, buf.byteOffset, WIDTH * HEIGHT), width: WIDTH, height: HEIGHT };
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < count; i++) {
      draw(i, canvas);
      writeSync(fd, buf, 0, FRAME_BYTES, i * FRAME_BYTES);
    }
  } finally {
    closeSync(fd);
  }
  return count;
}
