// Drives test/clients/vncinput.c (libvncclient) from tests: commands in, events out.
// See that file for the command and event lines.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = join(repo, 'test/clients/vncinput.c');
const SOURCES = [SOURCE, join(repo, 'test/clients/rfb-tap.h')];
export const VNCINPUT = join(repo, 'node_modules/.cache/vgpu-vnc-test/vncinput');

/** Builds vncinput when a source is newer than the binary (needs libvncserver-dev). */
export function buildVncInput(): string {
  if (!existsSync(VNCINPUT) || SOURCES.some((s) => statSync(s).mtimeMs > statSync(VNCINPUT).mtimeMs)) {
    mkdirSync(dirname(VNCINPUT), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-o', VNCINPUT, SOURCE, '-lvncclient', '-ldl'], { stdio: 'inherit' });
  }
  return VNCINPUT;
}

export interface ParsedCursor {
  hotX: number;
  hotY: number;
  width: number;
  height: number;
  /** 0xRRGGBB per pixel */
  rgb: number[];
  /** 0/1 per pixel */
  mask: number[];
}

export function parseCursorLine(line: string): ParsedCursor {
  const m = /^cursor (\d+) (\d+) (\d+)x(\d+) ([0-9a-f]*) ([01]*)$/.exec(line);
  if (!m) throw new Error(`not a cursor line: ${line.slice(0, 80)}`);
  const width = Number(m[3]), height = Number(m[4]);
  const rgb: number[] = [];
  for (let i = 0; i < width * height; i++) rgb.push(parseInt(m[5]!.slice(6 * i, 6 * i + 6), 16));
  return { hotX: Number(m[1]), hotY: Number(m[2]), width, height, rgb, mask: [...m[6]!].map(Number) };
}

export class VncInputClient {
  readonly lines: string[] = [];
  private readonly waiters = new Set<{ re: RegExp; from: number; ok: (l: string) => void }>();
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters) {
        if (w.re.test(l)) {
          this.waiters.delete(w);
          w.ok(l);
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static start(port: number, opts: { encodings?: string; cursor?: boolean; host?: string } = {}): VncInputClient {
    const args = [`${opts.host ?? '127.0.0.1'}:${port}`, '--encodings', opts.encodings ?? 'raw'];
    if (opts.cursor) args.push('--cursor');
    return new VncInputClient(spawn(buildVncInput(), args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** The first line matching `re` at or after line index `from` (default: any line so far). */
  waitFor(re: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((ok, fail) => {
      const w = {
        re,
        from,
        ok: (l: string) => {
          clearTimeout(t);
          ok(l);
        },
      };
      const t = setTimeout(() => {
        this.waiters.delete(w);
        fail(new Error(`vncinput: no line matched ${re} within ${timeoutMs} ms; lines: ${this.lines.map((l) => l.slice(0, 80)).join(' | ')} ${this.stderr}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Sends a command and waits for its "ok" (or fails on "error"). */
  async send(command: string): Promise<void> {
    const from = this.lines.length;
    const verb = command.split(' ')[0]!;
    this.child.stdin!.write(`${command}\n`);
    const line = await this.waitFor(new RegExp(`^(ok ${verb}|error)`), 20_000, from);
    if (line.startsWith('error')) throw new Error(`vncinput ${command}: ${line}`);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end('quit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
}
