// The demo guest's desktop: wallpaper, taskbar with a ticking clock, a slowly drifting
// welcome window with a progress bar and spinner, and a terminal with scrolling lines.
// Pure function of (width, height, t): the same t always gives the same pixels.
// Pixels are XRGB8888 (bytes B,G,R,X; X = 0), one u32 0x00RRGGBB per pixel on little-endian hosts.
import { CELL_HEIGHT, GLYPH_HEIGHT, drawText, textWidth, type PixelCanvas } from './font.js';

const rgb = (r: number, g: number, b: number): number => ((r << 16) | (g << 8) | b) >>> 0;
const mix = (a: number, b: number, f: number): number => {
  const c = (s: number): number => Math.round(((a >>> s) & 255) * (1 - f) + ((b >>> s) & 255) * f);
  return rgb(c(16), c(8), c(0));
};

const WHITE = rgb(255, 255, 255);
const TASKBAR_BG = rgb(16, 19, 28);
const ACCENT_A = rgb(91, 110, 225);
const ACCENT_B = rgb(138, 92, 246);
const WINDOW_BODY = rgb(244, 245, 247);
const WINDOW_TEXT = rgb(43, 47, 58);
const TERM_BODY = rgb(13, 17, 23);
const TERM_TITLE_A = rgb(48, 54, 61);
const TERM_TITLE_B = rgb(33, 38, 45);

class Canvas implements PixelCanvas {
  constructor(readonly pixels: Uint32Array, readonly width: number, readonly height: number) {}

  fillRect(x: number, y: number, w: number, h: number, color: number): void {
    const x0 = Math.max(0, x), x1 = Math.min(this.width, x + w);
    const y0 = Math.max(0, y), y1 = Math.min(this.height, y + h);
    if (x1 <= x0) return;
    for (let yy = y0; yy < y1; yy++) this.pixels.fill(color, yy * this.width + x0, yy * this.width + x1);
  }

  /** Rounded rectangle; `colorAt(row)` lets callers paint vertical gradients. */
  fillRoundRect(x: number, y: number, w: number, h: number, r: number, colorAt: (row: number) => number, corners = { top: true, bottom: true }): void {
    for (let row = 0; row < h; row++) {
      let inset = 0;
      const fromTop = row, fromBottom = h - 1 - row;
      if (corners.top && fromTop < r) inset = cornerInset(r, fromTop);
      else if (corners.bottom && fromBottom < r) inset = cornerInset(r, fromBottom);
      this.fillRect(x + inset, y + row, w - 2 * inset, 1, colorAt(row));
    }
  }

  /** Multiplies the pixels under the rectangle by `factor` (drop shadows). */
  darken(x: number, y: number, w: number, h: number, factor: number): void {
    const x0 = Math.max(0, x), x1 = Math.min(this.width, x + w);
    const y0 = Math.max(0, y), y1 = Math.min(this.height, y + h);
    const f = Math.round(factor * 256);
    for (let yy = y0; yy < y1; yy++) {
      for (let i = yy * this.width + x0, end = yy * this.width + x1; i < end; i++) {
        const p = this.pixels[i]!;
        this.pixels[i] = ((((p & 0xff00ff) * f) >>> 8) & 0xff00ff) | ((((p & 0xff00) * f) >>> 8) & 0xff00);
      }
    }
  }

  fillCircle(cx: number, cy: number, r: number, color: number): void {
    for (let dy = -r; dy <= r; dy++) {
      const half = Math.floor(Math.sqrt(r * r - dy * dy) + 0.5);
      this.fillRect(cx - half, cy + dy, 2 * half + 1, 1, color);
    }
  }
}

function cornerInset(r: number, row: number): number {
  const d = r - row - 0.5;
  return Math.round(r - Math.sqrt(Math.max(0, r * r - d * d)));
}

/** Wallpaper and taskbar background, computed once per size (the slow per-pixel part). */
let background: { width: number; height: number; pixels: Uint32Array } | undefined;

function taskbarHeight(height: number): number {
  return Math.max(28, Math.round(height * 0.056));
}

function buildBackground(width: number, height: number): Uint32Array {
  const px = new Uint32Array(width * height);
  const stops = [rgb(20, 30, 70), rgb(58, 45, 110), rgb(15, 107, 122)];
  const glows = [
    { x: width * 0.78, y: height * 0.22, r: width * 0.42, color: [255, 126, 179], strength: 0.35 },
    { x: width * 0.12, y: height * 0.95, r: width * 0.5, color: [80, 200, 255], strength: 0.25 },
  ];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = Math.min(1, Math.max(0, (x / width) * 0.55 + (y / height) * 0.45));
      let c = t < 0.5 ? mix(stops[0]!, stops[1]!, t * 2) : mix(stops[1]!, stops[2]!, (t - 0.5) * 2);
      let r = (c >>> 16) & 255, g = (c >>> 8) & 255, b = c & 255;
      for (const glow of glows) {
        const d = Math.hypot(x - glow.x, y - glow.y) / glow.r;
        if (d < 1) {
          const k = glow.strength * (1 - d) * (1 - d);
          r += (glow.color[0]! - r) * k;
          g += (glow.color[1]! - g) * k;
          b += (glow.color[2]! - b) * k;
        }
      }
      c = rgb(Math.round(r), Math.round(g), Math.round(b));
      px[y * width + x] = c;
    }
  }
  const canvas = new Canvas(px, width, height);
  // A faint wordmark on the wallpaper.
  const mark = 'vgpu-vnc';
  const scale = Math.max(2, Math.floor(width / 160));
  drawText(canvas, width - textWidth(mark, scale) - 3 * scale, height - taskbarHeight(height) - GLYPH_HEIGHT * scale - 3 * scale, mark, rgb(120, 140, 200), scale);
  // Taskbar: a dark translucent strip with a hairline on top.
  const tb = taskbarHeight(height);
  for (let y = height - tb; y < height; y++) {
    for (let i = y * width, end = i + width; i < end; i++) px[i] = mix(px[i]!, TASKBAR_BG, 0.86);
  }
  canvas.fillRect(0, height - tb, width, 1, rgb(70, 76, 96));
  const mid = height - tb + Math.floor((tb - GLYPH_HEIGHT * 2) / 2);
  canvas.fillRoundRect(8, height - tb + 5, tb - 10, tb - 10, 6, (row) => mix(ACCENT_A, ACCENT_B, row / (tb - 10)));
  drawText(canvas, 8 + Math.floor((tb - 10 - 10) / 2), mid, 'v', WHITE, 2);
  let x = drawText(canvas, tb + 8, mid, 'vgpu-vnc', WHITE, 2) + 16;
  for (const task of ['Welcome', 'Terminal']) {
    const w = textWidth(task, 2) + 20;
    canvas.fillRoundRect(x, height - tb + 6, w, tb - 12, 4, () => rgb(44, 50, 68));
    drawText(canvas, x + 10, mid, task, rgb(210, 215, 230), 2);
    x += w + 8;
  }
  return px;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function drawTaskbarDynamic(c: Canvas, t: number): void {
  const tb = taskbarHeight(c.height);
  const mid = c.height - tb + Math.floor((tb - GLYPH_HEIGHT * 2) / 2);
  const d = new Date(t);
  const clock = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  const date = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  const clockX = c.width - textWidth(clock, 2) - 14;
  drawText(c, clockX, mid, clock, WHITE, 2);
  const dateX = clockX - textWidth(date, 2) - 18;
  drawText(c, dateX, mid, date, rgb(150, 158, 182), 2);
  // Network activity meter: five bars bobbing with time.
  const barsX = dateX - 58;
  for (let i = 0; i < 5; i++) {
    const level = 0.5 + 0.5 * Math.sin(t / 260 + i * 1.3);
    const h = 3 + Math.round(level * (tb - 18));
    c.fillRect(barsX + i * 8, c.height - 9 - h, 5, h, mix(rgb(80, 200, 255), rgb(255, 126, 179), i / 4));
  }
}

interface WindowFrame {
  x: number;
  y: number;
  w: number;
  h: number;
  title: string;
  titleColors: [number, number];
  body: number;
}

const TITLE_HEIGHT = 30;

/** Draws shadow, frame and title bar; returns the body's top-left. */
function drawWindow(c: Canvas, win: WindowFrame): { x: number; y: number } {
  const { x, y, w, h } = win;
  c.darken(x - 2, y + 2, w + 8, h + 8, 0.8);
  c.darken(x + 2, y + 6, w, h, 0.7);
  c.fillRoundRect(x, y, w, h, 8, (row) => (row < TITLE_HEIGHT ? mix(win.titleColors[0], win.titleColors[1], row / TITLE_HEIGHT) : win.body));
  drawText(c, x + 14, y + Math.floor((TITLE_HEIGHT - GLYPH_HEIGHT * 2) / 2), win.title, WHITE, 2);
  const buttons = [rgb(255, 95, 87), rgb(254, 188, 46), rgb(40, 200, 64)];
  buttons.forEach((color, i) => c.fillCircle(x + w - 18 - i * 20, y + TITLE_HEIGHT / 2, 6, color));
  return { x, y: y + TITLE_HEIGHT };
}

const TERMINAL_TEMPLATES: ((n: number) => [string, number])[] = [
  (n) => [`guest@vgpu:~$ ${['uptime', 'ls /dev/dri', 'cat /proc/loadavg', 'date -u'][n % 4]}`, rgb(126, 231, 135)],
  (n) => [`fbregion: frame ${(n * 19) % 100000} XR24 ok`, rgb(201, 209, 217)],
  (n) => [`capture: ${(n * 37) % 97} dirty tiles of 240`, rgb(121, 192, 255)],
  (n) => [`client 127.0.0.1: ${(n * 13) % 29 + 1} rects, tight`, rgb(210, 168, 255)],
  (n) => [`load average: 0.${pad2((n * 7) % 100)} 0.${pad2((n * 3) % 100)} 0.12`, rgb(201, 209, 217)],
  (n) => [`vgpu: scanout on, ${60 - (n % 3)} Hz, linear`, rgb(255, 166, 87)],
];

const TERMINAL_LINE_MS = 700;

function terminalLine(n: number): [string, number] {
  return TERMINAL_TEMPLATES[n % TERMINAL_TEMPLATES.length]!(Math.floor(n / TERMINAL_TEMPLATES.length));
}

function drawTerminal(c: Canvas, t: number, area: { w: number; h: number }): void {
  const w = Math.min(660, Math.round(area.w * 0.56));
  const h = Math.min(380, Math.round(area.h * 0.6));
  const x = Math.round(area.w * 0.05);
  const y = area.h - h - Math.round(area.h * 0.06);
  const body = drawWindow(c, { x, y, w, h, title: 'Terminal', titleColors: [TERM_TITLE_A, TERM_TITLE_B], body: TERM_BODY });
  const lineH = CELL_HEIGHT * 2;
  const rows = Math.max(1, Math.floor((h - TITLE_HEIGHT - 16) / lineH) - 1);
  const cols = Math.floor((w - 24) / 12);
  const newest = Math.floor(t / TERMINAL_LINE_MS);
  for (let i = 0; i < rows; i++) {
    const [text, color] = terminalLine(newest - rows + 1 + i);
    drawText(c, body.x + 12, body.y + 8 + i * lineH, text.slice(0, cols), color, 2);
  }
  // The prompt, with a blinking block cursor.
  const py = body.y + 8 + rows * lineH;
  const after = drawText(c, body.x + 12, py, 'guest@vgpu:~$', rgb(126, 231, 135), 2);
  if (Math.floor(t / 500) % 2 === 0) c.fillRect(after + 12, py, 10, GLYPH_HEIGHT * 2, rgb(201, 209, 217));
}

const WELCOME_LINES = [
  'This desktop is an emulated vGPU:',
  'a guest renderer writes XRGB8888',
  'pixels into shared memory and',
  'answers the fbregion protocol.',
  'Any VNC viewer can watch it.',
];

function drawWelcome(c: Canvas, t: number, area: { w: number; h: number }): void {
  const w = Math.min(440, area.w - 20), h = Math.min(232, area.h - 20);
  // Drifts along a slow Lissajous path inside the desktop area.
  const rangeX = Math.max(0, area.w - w - 40), rangeY = Math.max(0, area.h - h - 40);
  const x = 20 + Math.round(rangeX * (0.75 + 0.25 * Math.sin((2 * Math.PI * t) / 41000)));
  const y = 20 + Math.round(rangeY * (0.3 + 0.3 * Math.sin((2 * Math.PI * t) / 29000)));
  const body = drawWindow(c, { x, y, w, h, title: 'Welcome to vgpu-vnc', titleColors: [ACCENT_A, ACCENT_B], body: WINDOW_BODY });
  WELCOME_LINES.forEach((line, i) => drawText(c, body.x + 16, body.y + 14 + i * CELL_HEIGHT * 2, line, WINDOW_TEXT, 2));
  // Progress bar and spinner: something is always moving.
  const progress = (t % 6000) / 6000;
  const barY = body.y + 14 + WELCOME_LINES.length * CELL_HEIGHT * 2 + 14;
  const barW = w - 32 - 40;
  c.fillRoundRect(body.x + 16, barY, barW, 14, 7, () => rgb(220, 223, 230));
  const filled = Math.round(barW * progress);
  if (filled >= 14) c.fillRoundRect(body.x + 16, barY, filled, 14, 7, () => mix(ACCENT_A, ACCENT_B, progress));
  const cx = body.x + w - 34, cy = barY + 7;
  const active = Math.floor(t / 100) % 8;
  for (let i = 0; i < 8; i++) {
    const a = (i / 8) * 2 * Math.PI;
    const fade = ((i - active + 8) % 8) / 8;
    c.fillCircle(cx + Math.round(Math.cos(a) * 11), cy + Math.round(Math.sin(a) * 11), 3, mix(ACCENT_B, rgb(220, 223, 230), fade));
  }
  drawText(c, body.x + 16, barY + 24, `Rendering ${String(Math.floor(progress * 100)).padStart(2, ' ')}%`, rgb(110, 116, 130), 2);
}

/**
 * Renders the scene for time `tMillis` (the clock shows it as UTC: pass local time shifted
 * by the zone offset for a local clock) into `buf`: width×height pixels, stride width×4.
 */
export function renderScene(buf: Buffer, width: number, height: number, tMillis: number): void {
  if (buf.length < width * height * 4) throw new Error(`renderScene: buffer of ${buf.length} bytes is smaller than ${width}x${height}x4`);
  const aligned = buf.byteOffset % 4 === 0;
  const pixels = aligned ? new Uint32Array(buf.buffer, buf.byteOffset, width * height) : new Uint32Array(width * height);
  if (!background || background.width !== width || background.height !== height) {
    background = { width, height, pixels: buildBackground(width, height) };
  }
  pixels.set(background.pixels);
  const c = new Canvas(pixels, width, height);
  const area = { w: width, h: height - taskbarHeight(height) };
  drawTerminal(c, tMillis, area);
  drawWelcome(c, tMillis, area);
  drawTaskbarDynamic(c, tMillis);
  if (!aligned) Buffer.from(pixels.buffer).copy(buf, 0, 0, width * height * 4);
}
