// For a describe block of integration tests: a TestProducer serving one image and vgpu-vnc
// (`--device` on it) started before the block's tests and stopped after them, with a
// temporary directory for the files the server is given (certificates, passwords).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { TestProducer, type TestImage } from './test-producer.js';

export interface ServedImage {
  readonly producer: TestProducer;
  readonly server: RunningServer;
  /** The temporary directory, removed after the block. */
  readonly dir: string;
}

export interface ServeOptions {
  /** The start hook's timeout (vitest's default when not given). */
  timeoutMs?: number;
  /** Extra environment for the server. */
  env?: Record<string, string>;
}

/**
 * Registers the beforeAll/afterAll hooks. `args(dir)` gives the server's arguments after
 * `--device PATH` (it may write files into dir). The fields are there once the block's tests run.
 */
export function serveImage(
  image: TestImage,
  args: (dir: string) => string[] | Promise<string[]> = () => [],
  { timeoutMs, env }: ServeOptions = {},
): ServedImage {
  let producer: TestProducer | undefined;
  let server: RunningServer | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-test-'));
    producer = TestProducer.start(image);
    server = await startServer(['--device', producer.path, ...(await args(dir))], env);
  }, timeoutMs);
  afterAll(async () => {
    await server?.stop();
    producer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const started = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`serveImage: ${what} is not started (used outside the block's tests?)`);
    return v;
  };
  return {
    get producer() { return started(producer, 'the producer'); },
    get server() { return started(server, 'the server'); },
    get dir() { return started(dir, 'the directory'); },
  };
}
