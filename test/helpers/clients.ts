/**
 * Real VNC clients, driven headless, for integration tests.
 *
 * Every grab connects to a server on 127.0.0.1 (or `host`), waits until the
 * client shows a complete, settled picture, and resolves with it as packed
 * RGB888 ({ width, height, rgb }, see image.ts). Each rejects with a one-line
 * Error saying what went wrong (tool missing, connection refused, auth
 * failed, timeout + what it was waiting for), and always ends the processes
 * it started, Xvfb included. All of them can run in parallel.
 *
 *   grabLibvnc(port, opts)      libvncclient via test/clients/vncgrab.c: any
 *                               encoding list, 32/16/8 bpp, big-endian,
 *                               password; reports the rectangle encodings the
 *                               server really sent (`rects`). Can wait for a
 *                               size (`expectSize`) or for pixels
 *                               (`untilPixels`) to prove live changes arrive.
 *   grabGvnccapture(port)       gtk-vnc's gvnccapture: ZRLE/Hextile/RRE/
 *                               CopyRect/Raw, no Tight, connects exclusive
 *                               (shared=0), no password support here (it
 *                               reads one from a terminal only). Takes a
 *                               display number, so `port` must be >= 5900:
 *                               get one from freeVncPort().
 *   grabTigervnc(port, opts)    xtigervncviewer under its own Xvfb, captured
 *                               with xwd. Tight (JPEG off unless asked) by
 *                               default; asks for Fence and ContinuousUpdates.
 *   openTigervnc(port, opts)    the same viewer kept open: waitFor() a picture
 *                               several times (after changing the server),
 *                               then close().
 *   grabRfb2(port, opts)        the npm rfb2 client in a child process (it
 *                               throws from socket handlers): Raw and CopyRect
 *                               in the server's own pixel format.
 *   freeVncPort()               a free TCP port in 6100..8899 (5900 + display).
 *   vncPasswordFile(password)   the bytes of a TigerVNC password file.
 *
 * Tools come from Debian packages installed by `bash test/setup.sh` (run by
 * `npm test`); a missing one is an error naming the package, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describeDifference, readPpm, readXwd, type Rgb, type RgbImage } from './image.js';

export type { RgbImage } from './image.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Built by test/setup.sh (not under build/: `node-gyp rebuild` deletes that). */
export const VNCGRAB = join(repo, 'node_modules/.cache/vgpu-vnc-test/vncgrab');
const RFB2GRAB = join(repo, 'test/clients/rfb2grab.cjs');

export interface Size {
  width: number;
  height: number;
}

// ---------------------------------------------------------------- processes

/** Children still running; killed if the test process exits first. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** Ends a child: SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
async function stop(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

/** Runs a program to completion, killing it after `timeoutMs`. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = track(spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      rej(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), timedOut });
    });
  });
}

async function requireTool(path: string, pkg: string): Promise<void> {
  try {
    await access(path, fsConstants.X_OK);
  } catch {
    throw new Error(`${path} is missing: run "bash test/setup.sh" (Debian package ${pkg})`);
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-vnc-client-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The last non-empty line of a tool's output, for one-line errors. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '(no output)';
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

// ---------------------------------------------------------------- ports

export { freeVncPort } from './free-port.js';

// ---------------------------------------------------------------- libvncclient

export interface LibvncOptions {
  host?: string;
  /** Encodings in order of preference, libvncclient names: raw copyrect hextile zlib zrle tight rre corre. Default ['raw']. */
  encodings?: string[];
  /** Client pixel format: 32 (red shift 0, green 8, blue 16), 16 (RGB565) or 8 (BGR233). Default 32. */
  bpp?: 32 | 16 | 8;
  /** Ask for a big-endian pixel format (libvncclient mis-decodes ZRLE/Tight at 32 bpp big-endian; use raw/hextile). */
  bigEndian?: boolean;
  /** false: no JPEG quality level in SetEncodings (libvncclient sends level 5 by default). */
  jpeg?: boolean;
  password?: string;
  /** Stop after this many FramebufferUpdate messages (picture complete). */
  updates?: number;
  /** Stop after receiving for this long (picture must be complete by then). */
  untilMs?: number;
  /** Stop once these pixels show these colours (after widening to 8 bits). */
  untilPixels?: Array<{ x: number; y: number; rgb: Rgb }>;
  /** Default stop rule: complete, then no pixel changed for this long. Default 200. */
  settleMs?: number;
  /** Also wait until the framebuffer has this size (DesktopSize reached the client). */
  expectSize?: Size;
  /** Overall limit, default 10000. */
  timeoutMs?: number;
}

export interface LibvncResult extends RgbImage {
  /** FramebufferUpdate messages received. */
  updates: number;
  /** Rectangles received by encoding name (raw, zrle, tight, desktopsize, ... or the number). */
  rects: Record<string, number>;
}

function parseCounts(list: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of list.split(',').filter(Boolean)) {
    const [name, n] = item.split(':');
    counts[name] = Number(n);
  }
  return counts;
}

export async function grabLibvnc(port: number, opts: LibvncOptions = {}): Promise<LibvncResult> {
  await requireTool(VNCGRAB, 'libvncserver-dev; vncgrab is built by test/setup.sh');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return withTempDir(async (dir) => {
    const out = join(dir, 'out.ppm');
    const args = [`${opts.host ?? '127.0.0.1'}:${port}`, out, '--encodings', (opts.encodings ?? ['raw']).join(' ')];
    args.push('--bpp', String(opts.bpp ?? 32), '--timeout-ms', String(timeoutMs));
    if (opts.bigEndian) args.push('--big-endian');
    if (opts.jpeg === false) args.push('--no-jpeg');
    if (opts.password !== undefined) args.push('--password-env', 'VNCGRAB_PASSWORD');
    if (opts.updates !== undefined) args.push('--updates', String(opts.updates));
    if (opts.untilMs !== undefined) args.push('--until-ms', String(opts.untilMs));
    if (opts.settleMs !== undefined) args.push('--settle-ms', String(opts.settleMs));
    if (opts.expectSize) args.push('--expect-size', `${opts.expectSize.width}x${opts.expectSize.height}`);
    for (const p of opts.untilPixels ?? []) {
      const rgb = p.rgb.map((c) => c.toString(16).padStart(2, '0')).join('');
      args.push('--until-pixel', `${p.x},${p.y},${rgb}`);
    }
    const env = { ...process.env, VNCGRAB_PASSWORD: opts.password ?? '' };
    const r = await run(VNCGRAB, args, { env, timeoutMs: timeoutMs + 5000 });
    if (r.code !== 0) throw new Error(r.timedOut ? `vncgrab hung past ${timeoutMs + 5000} ms` : lastLine(r.stderr));
    const m = /vncgrab: size=(\d+)x(\d+) updates=(\d+) rects=(\S*)/.exec(r.stderr);
    if (!m) throw new Error(`vncgrab: no summary line in: ${lastLine(r.stderr)}`);
    const img = readPpm(await readFile(out));
    return { ...img, updates: Number(m[3]), rects: parseCounts(m[4]) };
  });
}

// ---------------------------------------------------------------- gvnccapture

export interface GvnccaptureOptions {
  host?: string;
  /** CA certificate to trust for VeNCrypt X509* (gtk-vnc reads $HOME/.pki/CA/cacert.pem). */
  x509CA?: string;
  timeoutMs?: number;
}

export async function grabGvnccapture(port: number, opts: GvnccaptureOptions = {}): Promise<RgbImage> {
  await requireTool('/usr/bin/gvnccapture', 'gvncviewer');
  const display = port - 5900;
  if (!Number.isInteger(display) || display < 0) {
    throw new Error(`gvnccapture takes a display number (port - 5900); port ${port} is below 5900: use freeVncPort()`);
  }
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return withTempDir(async (dir) => {
    const out = join(dir, 'out.png');
    let env: NodeJS.ProcessEnv | undefined;
    if (opts.x509CA !== undefined) {
      await mkdir(join(dir, '.pki/CA'), { recursive: true });
      await writeFile(join(dir, '.pki/CA/cacert.pem'), await readFile(opts.x509CA));
      env = { ...process.env, HOME: dir };
    }
    const r = await run('/usr/bin/gvnccapture', [`${opts.host ?? '127.0.0.1'}:${display}`, out], { timeoutMs, env });
    if (r.timedOut) throw new Error(`gvnccapture: timeout after ${timeoutMs} ms`);
    if (r.code !== 0) throw new Error(`gvnccapture: ${lastLine(r.stderr + '\n' + r.stdout.toString())}`);
    const { data, info } = await sharp(await readFile(out)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`gvnccapture: PNG decoded to ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, rgb: data };
  });
}

// ---------------------------------------------------------------- rfb2

export interface Rfb2Options {
  host?: string;
  password?: string;
  timeoutMs?: number;
  /** Quiet time after the picture is complete. Default 150. */
  settleMs?: number;
}

export async function grabRfb2(port: number, opts: Rfb2Options = {}): Promise<RgbImage & { rects: Record<string, number> }> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return withTempDir(async (dir) => {
    const out = join(dir, 'out.ppm');
    const args = [RFB2GRAB, `${opts.host ?? '127.0.0.1'}:${port}`, out, '--timeout-ms', String(timeoutMs)];
    if (opts.password !== undefined) args.push('--password-env', 'RFB2GRAB_PASSWORD');
    if (opts.settleMs !== undefined) args.push('--settle-ms', String(opts.settleMs));
    const env = { ...process.env, RFB2GRAB_PASSWORD: opts.password ?? '' };
    const r = await run(process.execPath, args, { env, timeoutMs: timeoutMs + 5000 });
    if (r.code !== 0) throw new Error(r.timedOut ? `rfb2grab hung past ${timeoutMs + 5000} ms` : lastLine(r.stderr));
    const m = /rfb2grab: size=\d+x\d+ rects=(\S*)/.exec(r.stderr);
    return { ...readPpm(await readFile(out)), rects: parseCounts(m?.[1] ?? '') };
  });
}

// ---------------------------------------------------------------- TigerVNC

export interface TigervncOptions {
  host?: string;
  /** PreferredEncoding with AutoSelect off. Default 'Tight'. */
  encoding?: 'Tight' | 'ZRLE' | 'Hextile' | 'Raw';
  /** Allow lossy JPEG in Tight (default false, so pictures compare exactly). */
  jpeg?: boolean;
  /** Use a reduced pixel format: 0 = 8 colours, 1 = 64, 2 = 256 (FullColor off). Default full colour. */
  lowColorLevel?: 0 | 1 | 2;
  password?: string;
  /** -SecurityTypes, e.g. 'X509Vnc' or 'X509Plain,TLSPlain' (default: the viewer's own list). */
  securityTypes?: string;
  /** -X509CA: the CA (or self-signed) certificate the server's must chain to. */
  x509CA?: string;
  /** User name for Plain logins (with `password`, passed as VNC_USERNAME / VNC_PASSWORD). */
  user?: string;
  /** Share the desktop (default true; false asks the server to drop other clients). */
  shared?: boolean;
  /** Size of the Xvfb screen the viewer window lives in; must exceed the framebuffer. Default 2560x1600. */
  screen?: Size;
  /** Time to wait for the viewer's window to appear and show a picture. Default 15000. */
  timeoutMs?: number;
}

export interface WaitOptions {
  /** Wait until the window shows exactly this picture; on timeout the error tells how it differs. */
  expect?: RgbImage;
  /** Wait until this holds for the captured picture. */
  until?: (img: RgbImage) => boolean;
  /** Wait until the window has this size. */
  expectSize?: Size;
  /** The picture must stay the same for this long (default 300 ms; with `expect` 0). */
  settleMs?: number;
  timeoutMs?: number;
}

export interface TigervncViewer {
  /** The viewer window's current picture, or null while it has no window. */
  capture(): Promise<RgbImage | null>;
  /** Polls the window until the conditions hold; rejects with what it last saw. */
  waitFor(cond?: WaitOptions): Promise<RgbImage>;
  /** The viewer's log so far (TigerVNC -Log *:stderr:30), for failure messages. */
  log(): string;
  close(): Promise<void>;
}

interface DesJs {
  DES: { create(o: { type: 'encrypt'; key: Buffer; padding: boolean }): { update(b: Buffer): number[] } };
}

/** A TigerVNC/RealVNC password file (Xvnc -PasswordFile, viewer -passwd): the password DES-encrypted with VNC's fixed key. */
export function vncPasswordFile(password: string): Buffer {
  const { DES } = createRequire(import.meta.url)('des.js') as DesJs;
  const block = Buffer.alloc(8);
  Buffer.from(password, 'utf8').copy(block, 0, 0, 8);
  // VNC's fixed key {23,82,107,6,35,78,88,7} with each byte's bits reversed, as DES expects.
  const key = Buffer.from('e84ad660c4721ae0', 'hex');
  return Buffer.from(DES.create({ type: 'encrypt', key, padding: false }).update(block));
}

/** Starts Xvfb on a display it picks itself (-displayfd): no races between parallel tests. */
async function startXvfb(screen: Size, timeoutMs: number): Promise<{ xvfb: ChildProcess; display: string }> {
  await requireTool('/usr/bin/Xvfb', 'xvfb');
  const xvfb = track(
    spawn('/usr/bin/Xvfb', ['-displayfd', '3', '-screen', '0', `${screen.width}x${screen.height}x24`, '-nolisten', 'tcp', '-noreset'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    }),
  );
  let stderr = '';
  xvfb.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    const display = await new Promise<string>((res, rej) => {
      let text = '';
      const timer = setTimeout(() => rej(new Error(`Xvfb did not start within ${timeoutMs} ms: ${lastLine(stderr)}`)), timeoutMs);
      (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('\n')) {
          clearTimeout(timer);
          res(`:${text.trim()}`);
        }
      });
      xvfb.once('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`Xvfb exited (${code}) before it was ready: ${lastLine(stderr)}`));
      });
      xvfb.once('error', (e) => rej(new Error(`cannot run Xvfb: ${e.message}`)));
    });
    return { xvfb, display };
  } catch (e) {
    await stop(xvfb);
    throw e;
  }
}

interface WindowInfo {
  id: string;
  width: number;
  height: number;
}

/** The viewer's top-level window (class "TigerVNC Viewer", the largest one). */
async function findViewerWindow(env: NodeJS.ProcessEnv): Promise<WindowInfo | null> {
  const r = await run('/usr/bin/xwininfo', ['-root', '-children'], { env, timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`xwininfo: ${lastLine(r.stderr)}`);
  let best: WindowInfo | null = null;
  for (const line of r.stdout.toString().split('\n')) {
    const m = /^\s*(0x[0-9a-f]+) .*"TigerVNC Viewer"\)\s+(\d+)x(\d+)[+-]/.exec(line);
    if (!m) continue;
    const w = { id: m[1], width: Number(m[2]), height: Number(m[3]) };
    if (!best || w.width * w.height > best.width * best.height) best = w;
  }
  return best && best.width > 1 && best.height > 1 ? best : null;
}

const sameRgb = (a: RgbImage, b: RgbImage) => a.width === b.width && a.height === b.height && a.rgb.equals(b.rgb);

export async function openTigervnc(port: number, opts: TigervncOptions = {}): Promise<TigervncViewer> {
  await requireTool('/usr/bin/xtigervncviewer', 'tigervnc-viewer');
  await requireTool('/usr/bin/xwd', 'x11-apps');
  await requireTool('/usr/bin/xwininfo', 'x11-utils');
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const home = await mkdtemp(join(tmpdir(), 'vgpu-vnc-tigervnc-'));
  let xvfb: ChildProcess | undefined;
  let viewer: ChildProcess | undefined;
  let log = '';
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    if (viewer) await stop(viewer);
    if (xvfb) await stop(xvfb);
    await rm(home, { recursive: true, force: true });
  };

  try {
    const x = await startXvfb(opts.screen ?? { width: 2560, height: 1600 }, timeoutMs);
    xvfb = x.xvfb;
    // HOME is a fresh directory so no saved TigerVNC settings leak in.
    const env = { ...process.env, DISPLAY: x.display, HOME: home };
    const args = [
      '-geometry', '+0+0',
      `-Shared=${opts.shared === false ? 0 : 1}`,
      '-ViewOnly',
      '-RemoteResize=0',
      '-ReconnectOnError=0',
      '-AlertOnFatalError=0',
      '-AutoSelect=0',
      '-PreferredEncoding', opts.encoding ?? 'Tight',
      `-NoJPEG=${opts.jpeg ? 0 : 1}`,
      // Empty MenuKey: no "Press F8" hint drawn over the picture for seconds.
      '-MenuKey=',
      // Info level: at debug level the viewer draws its statistics graph over the picture.
      '-Log', '*:stderr:30',
    ];
    if (opts.lowColorLevel !== undefined) args.push('-FullColor=0', '-LowColorLevel', String(opts.lowColorLevel));
    else args.push('-FullColor');
    if (opts.securityTypes !== undefined) args.push('-SecurityTypes', opts.securityTypes);
    if (opts.x509CA !== undefined) args.push('-X509CA', opts.x509CA);
    // Plain credentials: the viewer reads these variables instead of asking in a dialog.
    if (opts.user !== undefined) Object.assign(env, { VNC_USERNAME: opts.user, VNC_PASSWORD: opts.password ?? '' });
    else if (opts.password !== undefined) {
      const file = join(home, 'passwd');
      await writeFile(file, vncPasswordFile(opts.password), { mode: 0o600 });
      args.push('-PasswordFile', file);
    }
    args.push(`${opts.host ?? '127.0.0.1'}::${port}`);
    viewer = track(spawn('/usr/bin/xtigervncviewer', args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    viewer.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    viewer.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const v = viewer;

    /** The viewer's last words worth reading (its key-mapping chatter dropped). */
    const why = () => {
      const lines = log.split('\n').map((l) => l.trim()).filter((l) => l && !/^[A-Z][a-z]{2} [A-Z][a-z]{2} /.test(l));
      return lines.slice(-3).join(' | ') || '(no output)';
    };

    const capture = async (): Promise<RgbImage | null> => {
      const win = await findViewerWindow(env);
      if (!win) return null;
      const r = await run('/usr/bin/xwd', ['-silent', '-id', win.id], { env, timeoutMs: 10_000 });
      // The window can vanish between xwininfo and xwd (viewer exiting or resizing).
      if (r.code !== 0) return null;
      return readXwd(r.stdout);
    };

    const waitFor = async (cond: WaitOptions = {}): Promise<RgbImage> => {
      const limit = cond.timeoutMs ?? timeoutMs;
      const settleMs = cond.settleMs ?? (cond.expect ? 0 : 300);
      const deadline = Date.now() + limit;
      let last: RgbImage | null = null;
      let stableSince = 0;
      for (;;) {
        if (v.exitCode !== null || v.signalCode !== null) {
          throw new Error(`xtigervncviewer exited (${v.exitCode ?? v.signalCode}): ${why()}`);
        }
        const img = await capture();
        const now = Date.now();
        if (img) {
          if (!last || !sameRgb(img, last)) stableSince = now;
          last = img;
          const sizeOk = !cond.expectSize || (img.width === cond.expectSize.width && img.height === cond.expectSize.height);
          const expectOk = !cond.expect || describeDifference(img, cond.expect) === null;
          if (sizeOk && expectOk && (!cond.until || cond.until(img)) && now - stableSince >= settleMs) return img;
        }
        if (now >= deadline) {
          let seen = last ? `window shows ${last.width}x${last.height}` : 'no viewer window appeared';
          if (last && cond.expectSize) seen += `, expected ${cond.expectSize.width}x${cond.expectSize.height}`;
          if (last && cond.expect) seen += `; ${describeDifference(last, cond.expect) ?? 'matches now'}`;
          if (last && cond.until) seen += '; until() never held';
          throw new Error(`xtigervncviewer: timeout after ${limit} ms: ${seen}; viewer log: ${why()}`);
        }
        await sleep(100);
      }
    };

    return { capture, waitFor, log: () => log, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Connects xtigervncviewer, waits for a settled picture (or `wait`'s conditions), captures it and closes. */
export async function grabTigervnc(
  port: number,
  opts: TigervncOptions & WaitOptions = {},
): Promise<RgbImage & { log: string }> {
  const viewer = await openTigervnc(port, opts);
  try {
    const img = await viewer.waitFor(opts);
    return { ...img, log: viewer.log() };
  } finally {
    await viewer.close();
  }
}
