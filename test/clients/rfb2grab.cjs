#!/usr/bin/env node
/*
 * rfb2grab: the npm rfb2 client (0.2.2) as a one-shot grabber, run as a child
 * process because rfb2 throws from inside its socket handlers (unknown
 * security type, missing password) and would take the test worker with it.
 *
 *   node rfb2grab.cjs HOST:PORT OUT.ppm [--password-env VAR] [--timeout-ms MS] [--settle-ms MS]
 *
 * rfb2 keeps the server's own pixel format and asks for Raw, CopyRect and
 * DesktopSize (its Hextile desyncs; ZRLE/Tight hang it: TESTING.md). It
 * emits one 'rect' event per rectangle; this assembles them into a
 * framebuffer and writes it as PPM (P6) once every pixel has been covered
 * and no rectangle came for --settle-ms (default 150) ms.
 * Success: one line "rfb2grab: size=WxH rects=raw:N,..." on stderr.
 * Failure: one line "rfb2grab: error: ..." and exit 2 (3 on timeout).
 */
'use strict';
const fs = require('node:fs');
const rfb = require('rfb2');

function fail(code, message) {
  process.stderr.write(`rfb2grab: error: ${message}\n`);
  process.exit(code);
}
process.on('uncaughtException', (err) => fail(2, err && err.message ? err.message : String(err)));

function parseArgs(argv) {
  const opts = { passwordEnv: null, timeoutMs: 10000, settleMs: 150 };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const v = argv[++i];
    if (v === undefined) fail(1, `${a} needs a value`);
    if (a === '--password-env') opts.passwordEnv = v;
    else if (a === '--timeout-ms') opts.timeoutMs = Number(v);
    else if (a === '--settle-ms') opts.settleMs = Number(v);
    else fail(1, `unknown option ${a}`);
  }
  if (positional.length !== 2) fail(1, 'usage: rfb2grab.cjs HOST:PORT OUT.ppm [--password-env VAR] [--timeout-ms MS] [--settle-ms MS]');
  const m = /^(.+):(\d+)$/.exec(positional[0]);
  if (!m) fail(1, 'first argument must be HOST:PORT');
  return { ...opts, host: m[1], port: Number(m[2]), out: positional[1] };
}

const opts = parseArgs(process.argv.slice(2));
const password = opts.passwordEnv ? process.env[opts.passwordEnv] : undefined;

let width = 0;
let height = 0;
let fb = Buffer.alloc(0); // RGB888
let covered = new Uint8Array(0);
let uncovered = 0;
let quietTimer = null;
const rects = {};

function resize(w, h) {
  width = w;
  height = h;
  fb = Buffer.alloc(w * h * 3);
  covered = new Uint8Array(w * h);
  uncovered = w * h;
}

function cover(x, y, w, h) {
  for (let j = y; j < Math.min(y + h, height); j++) {
    for (let i = x; i < Math.min(x + w, width); i++) {
      if (!covered[j * width + i]) { covered[j * width + i] = 1; uncovered--; }
    }
  }
}

/** Server pixel → [r, g, b], widened to 8 bits. */
function decoder(cli) {
  const bpp = cli.bpp / 8;
  const widen = (v, max) => (max === 255 ? v : Math.round((v * 255) / max));
  return (buf, o) => {
    let v = 0;
    for (let b = 0; b < bpp; b++) v += buf[o + (cli.isBigEndian ? bpp - 1 - b : b)] * 2 ** (8 * b);
    return [
      widen(Math.floor(v / 2 ** cli.redShift) % (cli.redMax + 1), cli.redMax),
      widen(Math.floor(v / 2 ** cli.greenShift) % (cli.greenMax + 1), cli.greenMax),
      widen(Math.floor(v / 2 ** cli.blueShift) % (cli.blueMax + 1), cli.blueMax),
    ];
  };
}

function finishWhenQuiet(cli) {
  if (quietTimer) clearTimeout(quietTimer);
  if (uncovered > 0 || width === 0) return;
  quietTimer = setTimeout(() => {
    fs.writeFileSync(opts.out, Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), fb]));
    const summary = Object.entries(rects).map(([k, n]) => `${k}:${n}`).join(',');
    process.stderr.write(`rfb2grab: size=${width}x${height} rects=${summary}\n`);
    cli.end();
    process.exit(0);
  }, opts.settleMs);
}

setTimeout(() => {
  if (width === 0) fail(3, `timeout after ${opts.timeoutMs} ms: no ServerInit from ${opts.host}:${opts.port}`);
  fail(3, `timeout after ${opts.timeoutMs} ms: ${uncovered} of ${width * height} pixels never sent`);
}, opts.timeoutMs).unref();

const cli = rfb.createConnection({
  host: opts.host,
  port: opts.port,
  security: [rfb.security.None, rfb.security.VNC],
  password,
  // Called (instead of throwing) only when the server asks and no password was given.
  credentialsCallback: () => fail(2, 'server requires a password but none was given (--password-env VAR)'),
  encodings: [rfb.encodings.raw, rfb.encodings.copyRect, rfb.encodings.pseudoDesktopSize],
});
cli.stream.on('error', (err) => fail(2, `connection to ${opts.host}:${opts.port} failed: ${err.message}`));
cli.stream.on('close', () => fail(2, 'connection closed by the server before the picture was complete'));
cli.on('error', (e) =>
  fail(2, typeof e === 'string' ? `server refused: ${e}` : `connection to ${opts.host}:${opts.port} failed: ${e.message}`),
);

let pixel = null;
cli.on('connect', () => {
  resize(cli.width, cli.height);
  pixel = decoder(cli);
});
cli.on('resize', (rect) => {
  resize(rect.width, rect.height);
  rects.desktopsize = (rects.desktopsize || 0) + 1;
  cli.requestUpdate(false, 0, 0, rect.width, rect.height);
});
cli.on('rect', (rect) => {
  const name = rect.encoding === rfb.encodings.raw ? 'raw' : rect.encoding === rfb.encodings.copyRect ? 'copyrect' : String(rect.encoding);
  rects[name] = (rects[name] || 0) + 1;
  if (rect.encoding === rfb.encodings.raw) {
    const bpp = cli.bpp / 8;
    for (let j = 0; j < rect.height; j++) {
      for (let i = 0; i < rect.width; i++) {
        const x = rect.x + i;
        const y = rect.y + j;
        if (x >= width || y >= height) continue;
        fb.set(pixel(rect.data, (j * rect.width + i) * bpp), (y * width + x) * 3);
      }
    }
  } else if (rect.encoding === rfb.encodings.copyRect) {
    const copy = Buffer.alloc(rect.width * rect.height * 3);
    for (let j = 0; j < rect.height; j++) {
      const from = ((rect.src.y + j) * width + rect.src.x) * 3;
      fb.copy(copy, j * rect.width * 3, from, from + rect.width * 3);
    }
    for (let j = 0; j < rect.height; j++) {
      copy.copy(fb, ((rect.y + j) * width + rect.x) * 3, j * rect.width * 3, (j + 1) * rect.width * 3);
    }
  } else {
    return; // cursor and other pseudo-rectangles carry no framebuffer pixels
  }
  cover(rect.x, rect.y, rect.width, rect.height);
  finishWhenQuiet(cli);
});
