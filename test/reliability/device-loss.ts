// Device loss in the kernel test guest (test/kernel/guest/device-loss.mjs): an mdev removed while
// `vgpu-vnc --vmm-pid` serves it, then a new one created and opened by the painter (the VMM).
// A real client on the host (libvncclient through QEMU's forward) must see the painted picture,
// then the "no signal" screen naming the removed device, then the new picture, from one server
// process. Used by test/kernel/device-loss.ktest.ts and by `npm run reliability`.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Guest, startGuest as StartGuest, formatPhases as FormatPhases } from '../kernel/run.mjs';
import { freeVncPort, grabLibvnc, type RgbImage } from '../helpers/clients.js';
import { repoRoot } from '../fuzz/cli.js';
import { renderNoSignal } from '../../src/surface/no-signal.js';

export interface DeviceLossResult {
  failures: string[];
  /** guest-side figures (ms), from "devloss: FIGURE name value" lines */
  figures: Record<string, string>;
  /** host: /results/remove written -> the connected client shows the no-signal screen */
  hostNoSignalMs?: number;
  /** host: /results/recreate written -> the connected client shows the new picture */
  hostNewPictureMs?: number;
  pictureExact: boolean;
  noSignalExact: boolean;
  newPictureExact: boolean;
  serverStayedUp: boolean;
  guestSeconds?: number;
  phases?: string;
}

const newer = (a: string, b: string): boolean => !existsSync(b) || statSync(a).mtimeMs > statSync(b).mtimeMs;

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* tsFiles(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

/** The guest runs the painter (static: it has no compiler) and dist/ (it has no TypeScript). */
function buildForGuest(repo: string): void {
  const source = join(repo, 'test/kernel/guest/painter.c');
  const painter = join(repo, 'node_modules/.cache/vgpu-vnc-test/painter');
  if (newer(source, painter)) execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', painter, source], { stdio: 'inherit' });
  const stale = [...tsFiles(join(repo, 'src'))].some((f) => newer(f, join(repo, 'dist', f.slice(repo.length + 1).replace(/\.ts$/, '.js'))));
  if (stale) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'inherit' });
}

/** Packed RGB of a picture-seed image (same function as the guest's painter input). */
async function pictureRgb(repo: string, width: number, height: number, seed: number): Promise<Buffer> {
  const m = (await import(pathToFileURL(join(repo, 'test/kernel/guest/picture.mjs')).href)) as { pictureRgb(w: number, h: number, s: number): Buffer };
  return m.pictureRgb(width, height, seed);
}

/** The no-signal screen for `reason` as packed RGB, rendered independently of the server process. */
function noSignalRgb(width: number, height: number, reason: string): Buffer {
  const xrgb = Buffer.alloc(width * height * 4);
  renderNoSignal(xrgb, width, height, reason);
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0, o = 0; i < xrgb.length; i += 4, o += 3) {
    rgb[o] = xrgb[i + 2]!;
    rgb[o + 1] = xrgb[i + 1]!;
    rgb[o + 2] = xrgb[i]!;
  }
  return rgb;
}

/** Four pixels of a picture, for vncgrab --until-pixel: the grab ends once the client shows them. */
function marks(rgb: Buffer, width: number, height: number): Array<{ x: number; y: number; rgb: [number, number, number] }> {
  return [[0, 0], [width - 1, 0], [width >> 1, height >> 1], [width - 1, height - 1]].map(([x, y]) => {
    const o = (y! * width + x!) * 3;
    return { x: x!, y: y!, rgb: [rgb[o]!, rgb[o + 1]!, rgb[o + 2]!] as [number, number, number] };
  });
}

function same(img: RgbImage, width: number, height: number, rgb: Buffer): boolean {
  return img.width === width && img.height === height && img.rgb.equals(rgb);
}

export async function runDeviceLoss(opts: { echo?: boolean } = {}): Promise<DeviceLossResult> {
  const repo = repoRoot();
  buildForGuest(repo);
  const run = (await import(pathToFileURL(join(repo, 'test/kernel/run.mjs')).href)) as { startGuest: typeof StartGuest; formatPhases: typeof FormatPhases };
  const result: DeviceLossResult = { failures: [], figures: {}, pictureExact: false, noSignalExact: false, newPictureExact: false, serverStayedUp: false };
  const port = await freeVncPort();
  const guest: Guest = run.startGuest({
    script: 'test/kernel/guest/device-loss.sh',
    modules: ['mbochs_rw'],
    forwards: [{ port, guest: 5900 }],
    env: { VFIO_SERVE: '1' },
    echo: opts.echo ?? true,
    timeoutMs: 280_000,
  });
  const signal = (name: string) => writeFileSync(join(guest.resultsDir, name), '');
  const grab = (more: Parameters<typeof grabLibvnc>[1] = {}) => grabLibvnc(port, { encodings: ['zrle', 'raw'], timeoutMs: 40_000, ...more });
  try {
    await guest.waitFor(/^devloss: READY picture/, 240_000);
    // The server may still show "busy (ENOMEM)" (mbochs after a mode change) when it starts: wait for the picture.
    const painted = await pictureRgb(repo, 1024, 768, 7);
    const first = await grab({ untilPixels: marks(painted, 1024, 768) });
    result.pictureExact = same(first, 1024, 768, painted);
    if (!result.pictureExact) result.failures.push(`first picture: ${first.width}x${first.height}, not the painted 1024x768 seed 7`);

    // A client connected across the removal: done once the corners show the no-signal background.
    const connectedBefore = guest.lines.filter((l) => / connected$/.test(l)).length;
    const background = { rgb: [0x20, 0x28, 0x30] as [number, number, number] };
    const during = grab({ untilPixels: [{ x: 0, y: 0, ...background }, { x: 1023, y: 767, ...background }], settleMs: 300 });
    await waitUntil(() => guest.lines.filter((l) => / connected$/.test(l)).length > connectedBefore, 20_000);
    // Let its first full picture go out (seconds of ZRLE under TCG): the figure is then the removal's, not the encoder's.
    await new Promise((r) => setTimeout(r, 2000));
    const tRemove = performance.now();
    signal('remove');
    const noSignal = await during;
    result.hostNoSignalMs = performance.now() - tRemove;
    const line = await guest.waitFor(/^devloss: READY nosignal /, 30_000);
    const uuid = line.split(' ').pop()!;
    const reason = `the device was removed (${uuid})`;
    if (!guest.lines.some((l) => l.includes(`display: no signal: ${reason}`))) result.failures.push(`the server never logged "no signal: ${reason}"`);
    if (same(noSignal, 1024, 768, first.rgb)) result.failures.push('the client still shows the old picture after the removal');
    const screen = noSignalRgb(1024, 768, reason);
    result.noSignalExact = same(noSignal, 1024, 768, screen) || same(await grab(), 1024, 768, screen);
    if (!result.noSignalExact) result.failures.push(`the client's screen during the loss is not the no-signal screen naming ${uuid}`);

    // A client connected across the re-creation: done once the new size arrived and settled.
    const connectedBefore2 = guest.lines.filter((l) => / connected$/.test(l)).length;
    const expected = await pictureRgb(repo, 1280, 720, 9);
    const after = grab({ expectSize: { width: 1280, height: 720 }, untilPixels: marks(expected, 1280, 720) });
    await waitUntil(() => guest.lines.filter((l) => / connected$/.test(l)).length > connectedBefore2, 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    const tCreate = performance.now();
    signal('recreate');
    const back = await after;
    result.hostNewPictureMs = performance.now() - tCreate;
    await guest.waitFor(/^devloss: READY back /, 30_000);
    result.newPictureExact = same(back, 1280, 720, expected);
    if (!result.newPictureExact) result.failures.push('the new picture (1280x720 seed 9) never reached the client exactly');
    signal('done');
    const r = await guest.exited;
    result.guestSeconds = r.seconds;
    result.phases = run.formatPhases(r.phases);
    result.serverStayedUp = guest.lines.some((l) => /^devloss: FIGURE serve\.serverPid \d+ stayed up/.test(l));
    if (!result.serverStayedUp) result.failures.push('the server did not stay up');
    if (r.timedOut || r.code !== 0) result.failures.push(`guest script: ${r.timedOut ? 'timed out' : `exit ${r.code}`}`);
    // A removal that leaves the guest kernel complaining (BUG, WARNING, Bad page) is not a clean one.
    for (const c of r.kernelComplaints) result.failures.push(`guest kernel: ${c}`);
    for (const l of guest.lines.filter((l) => l.startsWith('devloss: FAIL'))) result.failures.push(l);
  } catch (err) {
    result.failures.push(`${(err as Error).message}`);
    for (const l of guest.lines.filter((l) => l.startsWith('devloss: FAIL'))) result.failures.push(l);
  } finally {
    await guest.stop();
    for (const l of guest.lines) {
      const m = /^devloss: FIGURE (\S+) (.*)$/.exec(l);
      if (m) result.figures[m[1]!] = m[2]!;
    }
  }
  return result;
}

async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out waiting for the client to connect');
    await new Promise((r) => setTimeout(r, 50));
  }
}
