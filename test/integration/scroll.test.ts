// Scrolling text through the whole path with a real client: a producer scrolls a terminal window
// 8 px a frame, `vgpu-vnc --device FILE` detects the moves, and libvncclient (asking for
// CopyRect) must receive CopyRect rectangles and end with exactly the producer's last frame.
import { describe, expect, it } from 'vitest';
import { grabLibvnc } from '../helpers/clients.js';
import { assertSameImage } from '../helpers/image.js';
import { startServer } from '../helpers/server.js';
import { TestProducer, expectedRgb, type TestImage } from '../helpers/test-producer.js';
import { ScrollScene } from '../helpers/scroll-frames.js';
import { Fourcc } from '../../src/surface/fourcc.js';

const WIDTH = 640, HEIGHT = 400;

function image(scene: ScrollScene, top: number): TestImage {
  return { pixels: scene.frame(top), geometry: { fourcc: Fourcc.XRGB8888, width: WIDTH, height: HEIGHT, stride: WIDTH * 4, offset: 0 } };
}

describe('scrolling text with libvncclient', () => {
  it.each([[['copyrect', 'zrle']], [['copyrect', 'tight']], [['copyrect', 'raw']]])(
    'encodings %j: CopyRect rects arrive and the last frame is exact',
    async (encodings) => {
      const scene = new ScrollScene(WIDTH, HEIGHT, { x: 40, y: 30, w: 520, h: 340 }, 12);
      const producer = TestProducer.start(image(scene, 0));
      const server = await startServer(['--device', producer.path]);
      const frames = 40;
      let shown = 0;
      let timer: NodeJS.Timeout | undefined;
      try {
        // settle past the lossless refresh (500 ms after the last lossy update) even on a loaded machine
        const grab = grabLibvnc(server.port, { encodings, settleMs: 1500, timeoutMs: 20_000 });
        // Start scrolling once the client has its first picture (it connects within ~300 ms).
        await new Promise((r) => setTimeout(r, 500));
        await new Promise<void>((resolve) => {
          timer = setInterval(() => {
            shown++;
            producer.setImage(image(scene, shown * 8));
            if (shown >= frames) {
              clearInterval(timer);
              resolve();
            }
          }, 40);
        });
        const got = await grab;
        assertSameImage(got, expectedRgb(image(scene, frames * 8)), `libvncclient ${encodings.join('+')}`);
        expect(got.rects.copyrect ?? 0).toBeGreaterThan(0);
      } finally {
        clearInterval(timer);
        await server.stop();
        producer.close();
      }
    },
  );

  it('a client without CopyRect gets the same last frame as pixels', async () => {
    const scene = new ScrollScene(WIDTH, HEIGHT, { x: 40, y: 30, w: 520, h: 340 }, 13);
    const producer = TestProducer.start(image(scene, 0));
    const server = await startServer(['--device', producer.path]);
    let timer: NodeJS.Timeout | undefined;
    try {
      const grab = grabLibvnc(server.port, { encodings: ['zrle'], settleMs: 600, timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, 500));
      let shown = 0;
      await new Promise<void>((resolve) => {
        timer = setInterval(() => {
          producer.setImage(image(scene, ++shown * 8));
          if (shown >= 20) {
            clearInterval(timer);
            resolve();
          }
        }, 40);
      });
      const got = await grab;
      assertSameImage(got, expectedRgb(image(scene, 20 * 8)), 'libvncclient zrle');
      expect(got.rects.copyrect ?? 0).toBe(0);
    } finally {
      clearInterval(timer);
      await server.stop();
      producer.close();
    }
  });
});
