/**
 * Self-check of the real-client harness (test/helpers/clients.ts) against a
 * reference server, TigerVNC's Xvnc: every client must show exactly the
 * pixels the X server holds, read independently with `xwd -root`.
 * If this fails, fix the harness before blaming our server.
 */
import { spawn, type ChildProcess, execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freeVncPort,
  grabGvnccapture,
  grabLibvnc,
  grabRfb2,
  grabTigervnc,
  openTigervnc,
  vncPasswordFile,
} from '../helpers/clients.js';
import { describeDifference, pixelAt, readXwd, solidImage, type RgbImage } from '../helpers/image.js';

const run = promisify(execFile);

interface Xvnc {
  port: number;
  display: string;
  stop(): Promise<void>;
}

async function requireTool(path: string, pkg: string) {
  await access(path).catch(() => {
    throw new Error(`${path} is missing: run "bash test/setup.sh" (Debian package ${pkg})`);
  });
}

/** Starts Xvnc on a free port (retrying if another test grabs it first); VNC auth when given a password. */
async function startXvnc(geometry: string, password?: string): Promise<Xvnc> {
  await requireTool('/usr/bin/Xvnc', 'tigervnc-standalone-server');
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-vnc-xvnc-'));
  let security = ['-SecurityTypes', 'None'];
  if (password !== undefined) {
    // Xvnc reads the file at each login, so it lives in `dir` as long as the server.
    const file = join(dir, 'passwd');
    await writeFile(file, vncPasswordFile(password));
    security = ['-SecurityTypes', 'VncAuth', '-PasswordFile', file];
  }
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeVncPort();
    const args = ['-displayfd', '3', '-rfbport', String(port), '-geometry', geometry, '-depth', '24',
      '-localhost', '-nolisten', 'tcp', '-AlwaysShared', ...security];
    const child: ChildProcess = spawn('/usr/bin/Xvnc', args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const display = await new Promise<string | null>((res) => {
      let text = '';
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('\n')) res(`:${text.trim()}`);
      });
      child.once('exit', () => res(null));
      setTimeout(() => res(null), 10_000);
    });
    if (display) {
      const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await gone;
        }
        await rm(dir, { recursive: true, force: true });
      };
      return { port, display, stop };
    }
    child.kill('SIGKILL');
    lastError = stderr.split('\n').filter(Boolean).slice(-2).join(' | ');
  }
  throw new Error(`Xvnc would not start: ${lastError}`);
}

/** The X server's own picture, read over X11 (independent of any VNC client). */
async function rootPicture(display: string): Promise<RgbImage> {
  const { stdout } = await run('/usr/bin/xwd', ['-silent', '-root', '-display', display], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  return readXwd(stdout);
}

async function setRoot(display: string, ...args: string[]) {
  await requireTool('/usr/bin/xsetroot', 'x11-xserver-utils');
  await run('/usr/bin/xsetroot', ['-display', display, ...args]);
}

function expectSame(actual: RgbImage, expected: RgbImage) {
  expect(describeDifference(actual, expected)).toBeNull();
}

describe('harness against Xvnc (no auth)', () => {
  let xvnc: Xvnc;
  let pattern: RgbImage;
  const blue = solidImage(320, 240, [0x33, 0x66, 0x99]);

  beforeAll(async () => {
    xvnc = await startXvnc('320x240');
  }, 30_000);
  afterAll(async () => {
    await xvnc?.stop();
  });

  it('the reference server holds what xsetroot drew', async () => {
    await setRoot(xvnc.display, '-solid', '#336699');
    expectSame(await rootPicture(xvnc.display), blue);
    // A pattern with periods that are not powers of two catches flipped or shifted pictures.
    await setRoot(xvnc.display, '-mod', '5', '7', '-fg', '#ff8000', '-bg', '#1030c0');
    pattern = await rootPicture(xvnc.display);
    const colours = new Set<string>();
    for (let y = 0; y < 14; y++) for (let x = 0; x < 10; x++) colours.add(pixelAt(pattern, x, y).join());
    expect([...colours].sort()).toEqual(['16,48,192', '255,128,0']);
  });

  for (const encoding of ['raw', 'zrle', 'hextile', 'tight']) {
    it(`libvncclient with ${encoding} gets the exact picture and really used ${encoding}`, async () => {
      const img = await grabLibvnc(xvnc.port, { encodings: [encoding] });
      expectSame(img, pattern);
      expect(img.rects[encoding]).toBeGreaterThan(0);
      const pixelRects = Object.keys(img.rects).filter((k) => !/size|lastrect|qemu|fence|continuous|cursor/.test(k));
      expect(pixelRects).toEqual([encoding]);
    }, 30_000);
  }

  it('libvncclient at 16 bpp (RGB565) and 8 bpp (BGR233) gets the picture at that depth', async () => {
    // Xvnc reduces each 8-bit channel c by rounding (TigerVNC's PixelFormat: (c * 257 * max + 32767) / 65535);
    // vncgrab widens back as round(v * 255 / max).
    const reduce = (img: RgbImage, bits: [number, number, number]) => {
      const rgb = Buffer.from(img.rgb);
      for (let i = 0; i < rgb.length; i++) {
        const max = (1 << bits[i % 3]) - 1;
        const v = Math.floor((rgb[i] * 257 * max + 32767) / 65535);
        rgb[i] = Math.round((v * 255) / max);
      }
      return { ...img, rgb };
    };
    expectSame(await grabLibvnc(xvnc.port, { encodings: ['zrle'], bpp: 16 }), reduce(pattern, [5, 6, 5]));
    expectSame(await grabLibvnc(xvnc.port, { encodings: ['hextile'], bpp: 8 }), reduce(pattern, [3, 3, 2]));
    expectSame(await grabLibvnc(xvnc.port, { encodings: ['raw'], bigEndian: true }), pattern);
  }, 30_000);

  it('gvnccapture gets the exact picture', async () => {
    expectSame(await grabGvnccapture(xvnc.port), pattern);
  }, 30_000);

  it('rfb2 gets the exact picture with Raw', async () => {
    const img = await grabRfb2(xvnc.port);
    expectSame(img, pattern);
    expect(img.rects.raw).toBeGreaterThan(0);
  }, 30_000);

  for (const encoding of ['Tight', 'ZRLE'] as const) {
    it(`xtigervncviewer with ${encoding} shows the exact picture`, async () => {
      expectSame(await grabTigervnc(xvnc.port, { encoding, expect: pattern }), pattern);
    }, 40_000);
  }

  it('a change made while connected reaches libvncclient and xtigervncviewer', async () => {
    await setRoot(xvnc.display, '-solid', '#336699');
    const viewer = await openTigervnc(xvnc.port);
    try {
      await viewer.waitFor({ expect: blue });
      const red = solidImage(320, 240, [0xff, 0, 0]);
      const libvnc = grabLibvnc(xvnc.port, { encodings: ['zrle'], untilPixels: [{ x: 319, y: 239, rgb: [0xff, 0, 0] }] });
      await new Promise((r) => setTimeout(r, 500));
      await setRoot(xvnc.display, '-solid', '#ff0000');
      expectSame(await libvnc, red);
      expectSame(await viewer.waitFor({ expect: red }), red);
    } finally {
      await viewer.close();
    }
  }, 40_000);

  it('a size change reaches libvncclient and xtigervncviewer (DesktopSize)', async () => {
    await requireTool('/usr/bin/xrandr', 'x11-xserver-utils');
    const viewer = await openTigervnc(xvnc.port);
    try {
      await viewer.waitFor({ expectSize: { width: 320, height: 240 } });
      // Until the new colour shows too: the size alone may settle before xsetroot has painted.
      const libvnc = grabLibvnc(xvnc.port, {
        encodings: ['hextile'],
        expectSize: { width: 640, height: 480 },
        untilPixels: [{ x: 639, y: 479, rgb: [0, 0xff, 0] }],
      });
      await new Promise((r) => setTimeout(r, 500));
      await run('/usr/bin/xrandr', ['-display', xvnc.display, '--fb', '640x480']);
      await setRoot(xvnc.display, '-solid', '#00ff00');
      const green = solidImage(640, 480, [0, 0xff, 0]);
      expectSame(await libvnc, await rootPicture(xvnc.display));
      expectSame(await viewer.waitFor({ expect: green }), green);
    } finally {
      await viewer.close();
    }
  }, 40_000);

  it('failures are one-line errors, not hangs', async () => {
    const closed = await freeVncPort();
    await expect(grabLibvnc(closed)).rejects.toThrow(/cannot connect .*Connection refused/);
    await expect(grabRfb2(closed)).rejects.toThrow(/ECONNREFUSED/);
    await expect(grabGvnccapture(closed)).rejects.toThrow(/gvnccapture: .*Unable to connect/);
    await expect(grabTigervnc(closed, { timeoutMs: 5000 })).rejects.toThrow(/xtigervncviewer exited/);
    await expect(grabLibvnc(xvnc.port, { expectSize: { width: 1, height: 1 }, timeoutMs: 1000 })).rejects.toThrow(
      /timeout after 1000 ms: framebuffer is \d+x\d+, expected 1x1/,
    );
  }, 40_000);
});

describe('harness against Xvnc with VNC authentication', () => {
  let xvnc: Xvnc;
  const password = 'h4rness!';

  beforeAll(async () => {
    xvnc = await startXvnc('200x100', password);
    await setRoot(xvnc.display, '-solid', '#804020');
  }, 30_000);
  afterAll(async () => {
    await xvnc?.stop();
  });

  it('libvncclient, rfb2 and xtigervncviewer log in with the password and see the picture', async () => {
    const brown = solidImage(200, 100, [0x80, 0x40, 0x20]);
    expectSame(await grabLibvnc(xvnc.port, { password, encodings: ['zrle'] }), brown);
    expectSame(await grabRfb2(xvnc.port, { password }), brown);
    expectSame(await grabTigervnc(xvnc.port, { password, expect: brown }), brown);
  }, 40_000);

  it('a wrong or missing password is reported as such', async () => {
    await expect(grabLibvnc(xvnc.port, { password: 'wrong' })).rejects.toThrow(/Authentication failure/);
    await expect(grabLibvnc(xvnc.port)).rejects.toThrow(/requires a password/);
    await expect(grabRfb2(xvnc.port, { password: 'wrong' })).rejects.toThrow(/Authentication failure/);
  }, 40_000);
});
