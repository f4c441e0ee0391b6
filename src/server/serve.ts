// `vgpu-vnc --device … | --demo`: wire a source, the captured display and the listener.
import type { ServeOptions } from '../cli.js';
import { CapturedDisplay } from '../surface/captured-display.js';
import { openSource } from '../source/open.js';
import { VncListener } from './listener.js';

export function log(message: string): void {
  process.stderr.write(`vgpu-vnc: ${message}\n`);
}

export async function serve(opts: ServeOptions): Promise<void> {
  const opened = await openSource(opts.source, log);
  const display = new CapturedDisplay(opened.source, { name: opened.name, maxFps: opts.maxFps, log });
  await display.start();
  const listener = new VncListener(display, {
    host: opts.listen.host,
    port: opts.listen.port,
    password: opts.password,
    viewOnly: opts.viewOnly,
    log,
  });
  let address;
  try {
    address = await listener.listen();
  } catch (err) {
    await display.close();
    await opened.stop();
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot listen on ${opts.listen.host}:${opts.listen.port}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`);
  }
  const { width, height } = display.surface;
  log(`serving ${opened.name} (${width}x${height}) on ${address.host}:${address.port}${opts.password ? ' with VNC authentication' : ''}`);

  const shutdown = async (signal: string) => {
    log(`${signal}: shutting down`);
    await listener.close();
    await display.close();
    await opened.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}
