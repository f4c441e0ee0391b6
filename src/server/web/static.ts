// The web viewer's files, and nothing else: the page, its script and style, and the noVNC
// library modules it imports (core/ and vendor/ of @novnc/novnc, .js only). Everything is read
// into memory at start-up and looked up by exact path, so no request can name another file
// (no '..', no encoded tricks, no directory listings): unknown paths are 404.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Asset {
  body: Buffer;
  type: string;
  cacheControl: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Our own files may change with any server version: revalidate every time (cheap with ETag). */
const REVALIDATE = 'no-cache';
/** noVNC files live under a versioned path: the same URL never changes content. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The page's folder: next to this module in the source tree, or in src/ when running from dist/. */
function pageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, 'page'), join(here, '../../../../src/server/web/page')]) if (existsSync(join(dir, 'index.html'))) return dir;
  throw new Error('web viewer files (src/server/web/page) not found');
}

function noVncRoot(): { root: string; version: string } {
  // The package exports only core/rfb.js; its folder is two levels up.
  const entry = createRequire(import.meta.url).resolve('@novnc/novnc');
  const root = dirname(dirname(entry));
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return { root, version };
}

function jsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) out.push(...jsFiles(full));
    else if (st.isFile() && name.endsWith('.js')) out.push(full);
  }
  return out;
}

function asset(body: Buffer, type: string, cacheControl: string): Asset {
  return { body, type, cacheControl, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Headers every answer carries: no sniffing, no framing, only our own scripts and sockets. */
export const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export class StaticFiles {
  private readonly assets = new Map<string, Asset>();
  /** URL prefix of the noVNC modules, e.g. /novnc/1.7.0 */
  readonly noVncPrefix: string;

  constructor() {
    const page = pageDir();
    const { root, version } = noVncRoot();
    this.noVncPrefix = `/novnc/${version}`;
    const read = (name: string) => readFileSync(join(page, name));
    this.assets.set('/', asset(read('index.html'), TYPES['.html']!, REVALIDATE));
    this.assets.set('/style.css', asset(read('style.css'), TYPES['.css']!, REVALIDATE));
    // The page script imports noVNC by its versioned path.
    const app = read('app.js').toString('utf8').replaceAll('__NOVNC__', this.noVncPrefix);
    this.assets.set('/app.js', asset(Buffer.from(app), TYPES['.js']!, REVALIDATE));
    for (const sub of ['core', 'vendor']) {
      for (const file of jsFiles(join(root, sub))) {
        const url = `${this.noVncPrefix}/${relative(root, file).split(sep).join('/')}`;
        this.assets.set(url, asset(readFileSync(file), TYPES['.js']!, IMMUTABLE));
      }
    }
  }

  /** URL paths served (for tests and logs). */
  get paths(): string[] {
    return [...this.assets.keys()];
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const found = this.assets.get(path === '/index.html' ? '/' : path);
    if (!found) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end('not found\n');
      return;
    }
    const headers = { 'Content-Type': found.type, 'Cache-Control': found.cacheControl, ETag: found.etag };
    if (req.headers['if-none-match'] === found.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': String(found.body.length) });
    res.end(req.method === 'HEAD' ? undefined : found.body);
  }
}
