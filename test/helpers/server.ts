// Runs the real vgpu-vnc command (bin/vgpu-vnc, built dist/) for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeVncPort } from './clients.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(repo, 'bin/vgpu-vnc');

export interface RunningServer {
  port: number;
  process: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** Resolves when a log line matches (or rejects after timeoutMs with the log). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startServer(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freeVncPort();
  const child = spawn(process.execPath, [BIN, ...args, '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters) w();
  });
  const waitForLog = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((res, rej) => {
      const check = () => {
        const m = pattern.exec(stderr);
        if (m) {
          cleanup();
          res(m[0]);
        } else if (child.exitCode !== null) {
          cleanup();
          rej(new Error(`server exited (${child.exitCode}) before ${pattern}: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        rej(new Error(`no ${pattern} in server log within ${timeoutMs} ms:\n${stderr}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', check);
      };
      waiters.add(check);
      child.on('exit', check);
      check();
    });
  const server: RunningServer = {
    port,
    process: child,
    log: () => stderr,
    waitForLog,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(kill);
    },
  };
  process.once('exit', () => child.kill('SIGKILL'));
  await waitForLog(/serving .* on /);
  return server;
}
