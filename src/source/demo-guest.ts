// Worker-thread entry of the demo: an emulated vGPU guest that renders the desktop scene and
// serves it over the draft region protocol, rendering on request at up to `fps` frames/s.
import { parentPort, workerData } from 'node:worker_threads';
import { Fourcc } from '../surface/fourcc.js';
import { FbRegionProducer, type FrameGeometry } from './fbregion-producer.js';
import { renderScene } from './demo-scene.js';

export interface DemoGuestConfig {
  path: string;
  width: number;
  height: number;
  fps: number;
}

/** Messages the guest posts to its parent. */
export type DemoGuestMessage = { type: 'ready' } | { type: 'error'; message: string };

function post(message: DemoGuestMessage): void {
  parentPort?.postMessage(message);
}

/** Wall-clock time shifted so the scene's UTC clock reads local time. */
function localNow(): number {
  const now = Date.now();
  return now - new Date(now).getTimezoneOffset() * 60_000;
}

function run(config: DemoGuestConfig): void {
  const { path, width, height, fps } = config;
  const geometry: FrameGeometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
  const pixels = Buffer.alloc(width * height * 4);
  const producer = new FbRegionProducer(path);
  const frameMs = 1000 / fps;

  renderScene(pixels, width, height, localNow());
  producer.present(pixels, geometry);
  let lastRender = performance.now();
  let lastError: string | undefined;
  post({ type: 'ready' });

  producer.serve(
    () => {
      const now = performance.now();
      // Asked faster than the frame rate: acknowledge, the last frame stands.
      if (now - lastRender < frameMs) return null;
      lastRender = now;
      renderScene(pixels, width, height, localNow());
      lastError = undefined;
      return { pixels, geometry };
    },
    {
      // Report a failure once, not every poll (a full /dev/shm would otherwise flood the log).
      onError: (err) => {
        const message = (err as Error).message ?? String(err);
        if (message !== lastError) post({ type: 'error', message });
        lastError = message;
      },
    },
  );
  parentPort?.on('message', (message) => {
    if (message === 'stop') {
      producer.close();
      parentPort?.close();
    }
  });
}

try {
  run(workerData as DemoGuestConfig);
} catch (err) {
  post({ type: 'error', message: (err as Error).message ?? String(err) });
}
