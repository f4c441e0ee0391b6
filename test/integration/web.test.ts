// The built-in web viewer in a real browser: headless Chromium (Debian's, driven by
// playwright-core) opens the page, which connects by itself over WebSocket; the canvas must
// hold exactly the pixels the producer wrote, follow a guest mode change, and go through the
// password flow (wrong, then right). Also over HTTPS/WSS, and the HTTP side: only the page and
// its modules are served, with the right types and cache headers.
import { request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeVncPort } from '../helpers/clients.js';
import { describeDifference, type RgbImage } from '../helpers/image.js';
import { expectedRgb, makeImage } from '../helpers/test-producer.js';
import { serveImage } from '../helpers/served-image.js';
import { makeCertificate, makeUsersFile } from './tls-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** The noVNC canvas's own pixels (its backing store, not the scaled on-screen copy). */
async function canvasPixels(page: Page): Promise<RgbImage | null> {
  const got = await page.evaluate(() => {
    const canvas = document.querySelector('#screen canvas') as HTMLCanvasElement | null;
    if (!canvas || canvas.width === 0) return null;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let s = '';
    for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return { width: canvas.width, height: canvas.height, rgba: btoa(s) };
  });
  if (!got) return null;
  const rgba = Buffer.from(got.rgba, 'base64');
  const rgb = Buffer.alloc(got.width * got.height * 3);
  for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) rgba.copy(rgb, o, i, i + 3);
  return { width: got.width, height: got.height, rgb };
}

/** Polls the canvas until it equals `expected`; on timeout says how it differs. */
async function waitForCanvas(page: Page, expected: RgbImage, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let why = 'no canvas';
  while (Date.now() < deadline) {
    const img = await canvasPixels(page);
    if (img) {
      const diff = describeDifference(img, expected);
      if (diff === null) return;
      why = diff;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const status = await page.locator('#status').textContent();
  throw new Error(`canvas never matched: ${why}; page status: ${status}`);
}

const state = (page: Page) => page.locator('#status').getAttribute('data-state');

async function waitForState(page: Page, wanted: string, timeoutMs = 15_000): Promise<void> {
  await expect.poll(() => state(page), { timeout: timeoutMs }).toBe(wanted);
}

/** A raw GET (no URL normalisation, so '../' reaches the server as written). */
function rawGet(port: number, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe('web viewer on the VNC port (no password, loopback)', () => {
  const first = makeImage(320, 200, { seed: 21 });
  const served = serveImage(first, () => ['--web'], { timeoutMs: 60_000 });

  it('the page connects by itself and the canvas shows the exact pixels; then a mode change reaches it', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    try {
      await page.goto(`http://127.0.0.1:${served.server.port}/`);
      await waitForState(page, 'connected');
      expect(await page.locator('#status').textContent()).toMatch(/^Connected/);
      await waitForCanvas(page, expectedRgb(first));
      await served.server.waitForLog(/\(ws\): RFB 3\.8, no authentication/);

      const second = makeImage(400, 240, { seed: 22 });
      served.producer.setImage(second);
      await waitForCanvas(page, expectedRgb(second));
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('a plain VNC client on the same port still works (it only waits for the sniffing window)', async () => {
    const { grabLibvnc } = await import('../helpers/clients.js');
    const img = await grabLibvnc(served.server.port, { encodings: ['zrle'] });
    expect(describeDifference(img, expectedRgb(makeImage(400, 240, { seed: 22 })))).toBeNull();
  }, 30_000);

  it('serves the page and noVNC modules with their types and cache headers', async () => {
    const page = await rawGet(served.server.port, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
    const app = await rawGet(served.server.port, '/app.js');
    expect(app.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const m = /from '(\/novnc\/[\d.]+)\/core\/rfb\.js'/.exec(app.body);
    expect(m).not.toBeNull();
    const rfb = await rawGet(served.server.port, `${m![1]}/core/rfb.js`);
    expect(rfb.status).toBe(200);
    expect(rfb.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(rfb.headers['cache-control']).toMatch(/immutable/);
    expect((await rawGet(served.server.port, '/style.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    // HEAD has the headers and no body; other methods are refused.
    const head = await rawGet(served.server.port, '/', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await rawGet(served.server.port, '/', 'POST')).status).toBe(405);
  });

  it.each([
    '/../package.json',
    '/novnc/1.7.0/core/../../../package.json',
    '/novnc/1.7.0/core/%2e%2e/%2e%2e/package.json',
    '/novnc/1.7.0/package.json',
    '/novnc/1.7.0/docs/API.md',
    '/novnc/1.7.0/vendor/pako/README.md',
    '/src/server/web/page/app.js',
    '/etc/passwd',
    '//etc/passwd',
    '/index.html/..',
    '/nope',
  ])('404 for %s', async (path) => {
    const r = await rawGet(served.server.port, path);
    expect(r.status).toBe(404);
    expect(r.body).toBe('not found\n');
  });

  it('refuses a WebSocket from another origin (a foreign page must not reach the screen)', async () => {
    const status = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${served.server.port}/websockify`, { origin: 'http://evil.example' });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('open', () => resolve('open'));
      ws.on('error', (e) => resolve(e.message));
    });
    expect(status).toBe(403);
    await served.server.waitForLog(/cross-origin WebSocket from http:\/\/evil\.example refused/);
  });
});

describe('web viewer on its own port with a password', () => {
  const image = makeImage(200, 120, { seed: 31 });
  let webPort: number;
  const served = serveImage(image, async (dir) => {
    writeFileSync(join(dir, 'pass'), 'opensesame\n');
    webPort = await freeVncPort();
    return ['--password-file', join(dir, 'pass'), '--web', `127.0.0.1:${webPort}`];
  }, { timeoutMs: 60_000 });

  it('asks for the password, says a wrong one failed, asks again, then shows the picture', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${webPort}/`);
      await waitForState(page, 'authenticating');
      await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
      expect(await page.locator('#user-row').isVisible()).toBe(false); // VNC auth: no user name
      await page.fill('#password', 'wrong');
      await page.click('#login button[type=submit]');
      await waitForState(page, 'error');
      expect(await page.locator('#status').textContent()).toMatch(/Authentication failed: authentication failed/);
      await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
      await page.fill('#password', 'opensesame');
      await page.click('#login button[type=submit]');
      await waitForState(page, 'connected');
      await waitForCanvas(page, expectedRgb(image));
      await served.server.waitForLog(/\(ws\): RFB 3\.8, VNC authentication/);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('the web port serves no RFB: a silent client is dropped, a VNC greeting never comes', async () => {
    const net = await import('node:net');
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(webPort, '127.0.0.1');
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.setTimeout(1500, () => {
        s.destroy();
        resolve(data);
      });
    });
    expect(got).toBe('');
  });
});

describe('web viewer over HTTPS/WSS with Plain users', () => {
  const image = makeImage(240, 136, { seed: 41 });
  const served = serveImage(image, (dir) => {
    const pem = makeCertificate(dir);
    const users = makeUsersFile(dir, { carol: 'hunter22' });
    return ['--web', '--tls-cert', pem.cert, '--tls-key', pem.key, '--plain-users', users];
  }, { timeoutMs: 60_000 });

  it('plain http is redirected to https; over https the page logs in as a Plain user over wss', async () => {
    const redirect = await rawGet(served.server.port, '/');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe(`https://127.0.0.1:${served.server.port}/`);

    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    try {
      await page.goto(`https://127.0.0.1:${served.server.port}/`);
      await waitForState(page, 'authenticating');
      await expect.poll(() => page.locator('#user-row').isVisible()).toBe(true); // Plain wants a user
      await page.fill('#user', 'carol');
      await page.fill('#password', 'hunter22');
      await page.click('#login button[type=submit]');
      await waitForState(page, 'connected');
      await waitForCanvas(page, expectedRgb(image));
      await served.server.waitForLog(/\(wss\): RFB 3\.8, VeNCrypt Plain \(user carol\)/);
    } finally {
      await context.close();
    }
  }, 60_000);
});
