// The demo source: an emulated vGPU guest in a worker thread, writing its desktop into a
// shared-memory file and speaking the fbregion protocol; the server reads it like any device.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FbRegionSource } from './fbregion.js';
import type { DemoGuestConfig, DemoGuestMessage } from './demo-guest.js';
import type { FrameSource, Logger } from './types.js';

export interface DemoOptions {
  width: number;
  height: number;
  log: Logger;
  /** Most frames per second the guest renders (default 30). */
  fps?: number;
}

export interface RunningDemo {
  source: FrameSource;
  /** Path of the shared file, for people who want to look at it. */
  path: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

/**
 * The compiled guest sits next to this file in dist/. When this module runs from sources
 * (tests under vitest), fall back to the compiled copy: a worker cannot load .ts itself.
 */
function guestEntry(): URL {
  const candidates = [new URL('./demo-guest.js', import.meta.url), new URL('../../dist/src/source/demo-guest.js', import.meta.url)];
  const found = candidates.find((url) => existsSync(fileURLToPath(url)));
  if (!found) throw new Error('the demo guest is not built: run `npm run build` in the vgpu-vnc folder');
  return found;
}

function sharedFilePath(): string {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return join(dir, `vgpu-vnc-demo-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function startDemo(opts: DemoOptions): Promise<RunningDemo> {
  const { width, height, log } = opts;
  const fps = opts.fps ?? 30;
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 16384) throw new Error(`demo ${name} must be an integer in 1..16384, got ${v}`);
  }
  if (!(fps > 0 && fps <= 240)) throw new Error(`demo fps must be in (0, 240], got ${fps}`);

  const path = sharedFilePath();
  const config: DemoGuestConfig = { path, width, height, fps };
  const worker = new Worker(guestEntry(), { workerData: config });
  const cleanup = async (): Promise<void> => {
    await worker.terminate();
    rmSync(path, { force: true });
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no first frame within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      worker.once('message', (m: DemoGuestMessage) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve();
        else reject(new Error(m.message));
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with code ${code}`));
      });
    });
  } catch (err) {
    await cleanup();
    throw new Error(`demo guest failed to start: ${(err as Error).message}`);
  }

  // After start-up the guest's troubles are logged; the source then shows its last frame.
  worker.on('message', (m: DemoGuestMessage) => {
    if (m.type === 'error') log(`demo guest: ${m.message}`);
  });
  worker.on('error', (err) => log(`demo guest crashed: ${err.message}`));

  const source = new FbRegionSource(path, { log });
  let stopped: Promise<void> | undefined;
  return {
    source,
    path,
    stop: () =>
      (stopped ??= (async () => {
        await source.close();
        await cleanup();
      })()),
  };
}
