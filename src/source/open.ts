// Turn the CLI's choice into a FrameSource.
import type { SourceChoice } from '../cli.js';
import type { FrameSource, Logger } from './types.js';
import { FbRegionSource } from './fbregion.js';
import { startDemo } from './demo.js';
import { openVfioSource } from './vfio.js';

export interface OpenedSource {
  source: FrameSource;
  name: string;
  stop(): Promise<void>;
}

export async function openSource(choice: SourceChoice, log: Logger): Promise<OpenedSource> {
  switch (choice.kind) {
    case 'demo': {
      const demo = await startDemo({ width: 1280, height: 720, log });
      return { source: demo.source, name: 'vgpu-vnc demo', stop: () => demo.stop() };
    }
    case 'fbregion': {
      const source = FbRegionSource.open(choice.path, { log });
      return { source, name: `vgpu-vnc ${choice.path}`, stop: () => source.close() };
    }
    case 'vfio':
      return openVfioSource(choice.spec, { log, resolution: choice.resolution });
  }
}
