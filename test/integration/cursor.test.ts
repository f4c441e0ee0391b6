// The guest's cursor plane reaching real libvncclient clients: a scripted VFIO device (primary
// picture + a cursor plane the test moves, re-hotspots, reshapes and disables) behind the real
// VfioSource, CapturedDisplay and listener. A client with the Cursor encoding gets each shape
// (and no shape for a mere move); a client without it gets the cursor drawn into its picture,
// exactly, while the shared surface stays the guest's picture.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CapturedDisplay } from '../../src/surface/captured-display.js';
import { VfioSource } from '../../src/source/vfio.js';
import { VncListener } from '../../src/server/listener.js';
import { freeVncPort } from '../helpers/clients.js';
import { CursorDevice, opaqueCursor, type CursorPlaneSetting } from './cursor-device.js';
import { parseCursorLine, VncInputClient } from './input-client.js';

const W = 256, H = 128;
const logs: string[] = [];
const log = (m: string) => logs.push(m);

/** XRGB8888 bytes B,G,R,0; a pattern so every misplaced pixel shows. */
function primaryPicture(): Buffer {
  const b = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 4;
      b[o] = (x * 5) & 0xff;
      b[o + 1] = (y * 9) & 0xff;
      b[o + 2] = (x + y * 2) & 0xff;
    }
  return b;
}

const primary = primaryPicture();
const device = new CursorDevice(W, H, primary);
let display: CapturedDisplay;
let listener: VncListener;
let port: number;
let withCursor: VncInputClient;
let without: VncInputClient;

/** What a client without cursor support must show: the cursor's opaque pixels over the picture (alpha is 0 or 255 here). */
function expectedRgb(c: CursorPlaneSetting | undefined): Buffer {
  const rgb = Buffer.alloc(W * H * 3);
  for (let i = 0; i < W * H; i++) {
    rgb[i * 3] = primary[i * 4 + 2]!;
    rgb[i * 3 + 1] = primary[i * 4 + 1]!;
    rgb[i * 3 + 2] = primary[i * 4]!;
  }
  if (!c) return rgb;
  for (let cy = 0; cy < c.height; cy++)
    for (let cx = 0; cx < c.width; cx++) {
      const x = c.x + cx, y = c.y + cy;
      const p = (cy * c.width + cx) * 4;
      if (x < 0 || y < 0 || x >= W || y >= H || c.pixels[p + 3] === 0) continue;
      const o = (y * W + x) * 3;
      rgb[o] = c.pixels[p + 2]!;
      rgb[o + 1] = c.pixels[p + 1]!;
      rgb[o + 2] = c.pixels[p]!;
    }
  return rgb;
}

let dumps = 0;
/** Dumps the cursor-less client's picture until it equals `want` (fails with the differing pixel count). */
async function expectPicture(want: Buffer, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let differing = -1;
  while (Date.now() < end) {
    const path = join(device.dir, `dump${dumps++}.ppm`);
    await without.send(`dump ${path}`);
    const ppm = readFileSync(path);
    const pixels = ppm.subarray(ppm.length - W * H * 3);
    if (pixels.equals(want)) return;
    differing = 0;
    for (let i = 0; i < W * H; i++) if (pixels.compare(want, i * 3, i * 3 + 3, i * 3, i * 3 + 3) !== 0) differing++;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the cursor-less client's picture still differs in ${differing} pixels`);
}

function cursorLines(): string[] {
  return withCursor.lines.filter((l) => l.startsWith('cursor '));
}

async function nextCursor(): Promise<ReturnType<typeof parseCursorLine>> {
  const from = withCursor.lines.length;
  return parseCursorLine(await withCursor.waitFor(/^cursor /, 10_000, from));
}

function expectShape(got: ReturnType<typeof parseCursorLine>, c: CursorPlaneSetting, hot: [number, number]): void {
  expect([got.width, got.height, got.hotX, got.hotY]).toEqual([c.width, c.height, ...hot]);
  for (let i = 0; i < c.width * c.height; i++) {
    const a = c.pixels[i * 4 + 3]!;
    expect(got.mask[i]).toBe(a >= 128 ? 1 : 0);
    if (a === 255) expect(got.rgb[i]).toBe((c.pixels[i * 4 + 2]! << 16) | (c.pixels[i * 4 + 1]! << 8) | c.pixels[i * 4]!);
  }
}

const first: CursorPlaneSetting = { width: 16, height: 16, pixels: opaqueCursor(16, 16, 0xff2010), x: 40, y: 30, hotX: 3, hotY: 5, id: 2 };

beforeAll(async () => {
  device.setCursor(first);
  const source = new VfioSource(device, { kind: 'dmabuf', log });
  display = new CapturedDisplay(source, { name: 'cursor test', maxFps: 60, log, idleIntervalMs: 50 });
  await display.start();
  port = await freeVncPort();
  listener = new VncListener(display, { host: '127.0.0.1', port, viewOnly: true, log });
  await listener.listen();
  withCursor = VncInputClient.start(port, { cursor: true });
  without = VncInputClient.start(port);
  await withCursor.waitFor(/^ready 256x128$/);
  await without.waitFor(/^ready 256x128$/);
}, 30_000);

afterAll(async () => {
  await withCursor?.close();
  await without?.close();
  await listener?.close();
  await display?.close();
});

test('the first shape reaches the cursor client; the other client sees it drawn in', async () => {
  const got = parseCursorLine(await withCursor.waitFor(/^cursor /));
  expectShape(got, first, [3, 5]);
  await expectPicture(expectedRgb(first));
  expect(display.surface.data.equals(primary)).toBe(true); // never drawn into the shared surface
});

test('moving (partly off the edge) redraws for the cursor-less client and sends no shape', async () => {
  const moved = { ...first, x: W - 6, y: H - 4 };
  device.setCursor(moved);
  await expectPicture(expectedRgb(moved));
  const moved2 = { ...first, x: -5, y: 10 };
  device.setCursor(moved2);
  await expectPicture(expectedRgb(moved2));
  expect(cursorLines()).toHaveLength(1);
  expect(display.surface.data.equals(primary)).toBe(true);
});

test('a new hotspot, "no hotspot" and a new image each send a shape', async () => {
  const hot = { ...first, x: 100, y: 50, hotX: 9, hotY: 2 };
  let next = nextCursor();
  device.setCursor(hot);
  expectShape(await next, hot, [9, 2]);

  const none = { ...hot, hotX: 0xffffffff, hotY: 0xffffffff };
  next = nextCursor();
  device.setCursor(none);
  expectShape(await next, none, [0, 0]);

  const green: CursorPlaneSetting = { width: 24, height: 20, pixels: opaqueCursor(24, 20, 0x10e040), x: 120, y: 60, hotX: 1, hotY: 1, id: 3 };
  next = nextCursor();
  device.setCursor(green);
  expectShape(await next, green, [1, 1]);
  await expectPicture(expectedRgb(green));
});

test('disabling the cursor plane: an invisible shape, and the plain picture', async () => {
  const next = nextCursor();
  device.setCursor(undefined);
  const got = await next;
  expect([got.width, got.height, got.mask]).toEqual([1, 1, [0]]);
  await expectPicture(expectedRgb(undefined));
  expect(display.surface.data.equals(primary)).toBe(true);
});
