// The two servers under test, each a child process whose pid the measuring client reads
// CPU time from: TigerVNC's Xvnc (1920×1080×24) and vgpu-vnc --device on a draft-protocol file.
import { spawn, type ChildProcess } from 'node:child_process';
import { freeVncPort } from '../../test/helpers/free-port.js';

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** Xvnc's X display (":N"); undefined for vgpu-vnc. */
  readonly display?: string;
  alive(): boolean;
  /** The last lines it wrote to stderr (for error messages). */
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `cmd args` run at a given niceness (nice execs, so the pid stays the program's own). */
export function niced(niceness: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return niceness === undefined ? [cmd, args] : ['nice', ['-n', String(niceness), cmd, ...args]];
}

function wrap(name: string, port: number, child: ChildProcess, stderr: () => string, display?: string): RunningServer {
  return {
    name,
    port,
    pid: child.pid!,
    display,
    alive: () => child.exitCode === null && child.signalCode === null,
    log: () => stderr().split('\n').filter(Boolean).slice(-3).join(' | '),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stderr!.on('data', (b: Buffer) => {
    text = (text + b.toString()).slice(-4000);
  });
  return () => text;
}

/** Xvnc with its defaults (FrameRate 60, CompareFB auto), no auth, loopback only. */
export async function startXvnc(niceness?: number): Promise<RunningServer> {
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeVncPort();
    const args = ['-displayfd', '3', '-rfbport', String(port), '-geometry', '1920x1080', '-depth', '24',
      '-localhost', '-nolisten', 'tcp', '-AlwaysShared', '-SecurityTypes', 'None'];
    const child = spawn(...niced(niceness, '/usr/bin/Xvnc', args), { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    const stderr = collect(child);
    const display = await new Promise<string | null>((res) => {
      let text = '';
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('\n')) res(`:${text.trim()}`);
      });
      child.once('exit', () => res(null));
      child.once('error', () => res(null));
      setTimeout(() => res(null), 10_000);
    });
    if (display) return wrap('Xvnc', port, child, stderr, display);
    child.kill('SIGKILL');
    lastError = stderr().split('\n').filter(Boolean).slice(-2).join(' | ');
  }
  throw new Error(`Xvnc would not start: ${lastError}`);
}

/** `node bin/vgpu-vnc --device FB_FILE`; the file must already hold a frame. */
export async function startVgpu(bin: string, fbPath: string, extraArgs: string[] = [], niceness?: number): Promise<RunningServer> {
  const port = await freeVncPort();
  const child = spawn(...niced(niceness, process.execPath, [...extraArgs, bin, '--device', fbPath, '--listen', `127.0.0.1:${port}`]), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr = collect(child);
  for (let waited = 0; !/serving/.test(stderr()); waited += 50) {
    if (child.exitCode !== null || waited > 15_000) {
      child.kill('SIGKILL');
      throw new Error(`vgpu-vnc would not start: ${stderr().trim().split('\n').slice(-2).join(' | ')}`);
    }
    await sleep(50);
  }
  return wrap('vgpu-vnc', port, child, stderr);
}
