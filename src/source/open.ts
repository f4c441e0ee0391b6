// Turn the CLI's choice into a FrameSource.
import type { FrameSource, Logger } from './types.js';
import { FbRegionSource } from './fbregion.js';
import { startDemo } from './demo.js';

export interface OpenedSource {
  source: FrameSource;
  name: string;
  stop(): Promise<void>;
}

export async function openSource(opts: { device?: string; demo: boolean }, log: Logger): Promise<OpenedSource> {
  if (opts.demo) {
    const demo = await startDemo({ width: 1280, height: 720, log });
    return { source: demo.source, name: 'vgpu-vnc demo', stop: () => demo.stop() };
  }
  const device = opts.device as string;
  const source = FbRegionSource.open(device, { log });
  return { source, name: `vgpu-vnc ${device}`, stop: () => source.close() };
}
