// Real clients decode the parallel deflate path: a 1280×720 picture whose ZRLE tile data
// (~2.7 MB) and Tight full-colour rects (192 KiB each) are above ZStream's 128 KiB threshold,
// so they go out as blocks deflated on several threads, concatenated into each client's one
// zlib stream. A second picture follows on the same connection: the stream must continue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grabLibvnc, grabTigervnc, openTigervnc } from '../helpers/clients.js';
import { assertSameImage, type RgbImage } from '../helpers/image.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { TestProducer, type TestImage } from '../helpers/test-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';

const W = 1280, H = 720;

/** Gradients in short runs with random steps: many colours (full-colour tiles and rects), compressible, not periodic. */
function picture(seed: number): { image: TestImage; rgb: RgbImage } {
  const pixels = Buffer.alloc(W * H * 4);
  const rgb = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const o = y * W + x;
      const r = ((x + seed * 40) >> 2) & 255;
      const cell = Math.imul((x >> 4) * 7919 + (y >> 3) * 104729 + seed, 2654435761) >>> 26; // aperiodic
      const g = (y * 3 + seed * 17 + cell) & 255;
      const b = ((x * (seed + 1) + y) >> 3) & 255;
      pixels[o * 4] = b; pixels[o * 4 + 1] = g; pixels[o * 4 + 2] = r;
      rgb[o * 3] = r; rgb[o * 3 + 1] = g; rgb[o * 3 + 2] = b;
    }
  return {
    image: { pixels, geometry: { fourcc: Fourcc.XRGB8888, width: W, height: H, stride: W * 4, offset: 0 } },
    rgb: { width: W, height: H, rgb },
  };
}

describe('parallel deflate with real clients', () => {
  const first = picture(1);
  const second = picture(2);
  let producer: TestProducer;
  let server: RunningServer;

  beforeAll(async () => {
    producer = TestProducer.start(first.image);
    server = await startServer(['--device', producer.path]);
  });
  afterAll(async () => {
    await server?.stop();
    producer?.close();
  });

  it('libvncclient with zrle receives exactly the guest pixels', async () => {
    const img = await grabLibvnc(server.port, { encodings: ['zrle'], timeoutMs: 20_000 });
    assertSameImage(img, first.rgb, 'libvncclient zrle');
    expect(img.rects.zrle).toBeGreaterThan(0);
  });

  it('libvncclient with tight ends with exactly the guest pixels (after the lossless refresh)', async () => {
    const img = await grabLibvnc(server.port, { encodings: ['tight'], untilMs: 3000, timeoutMs: 20_000 });
    assertSameImage(img, first.rgb, 'libvncclient tight');
    expect(img.rects.tight).toBeGreaterThan(0);
  });

  it.each([['ZRLE'], ['Tight']] as const)('TigerVNC with %s follows a second full picture on the same stream', async (encoding) => {
    const viewer = await openTigervnc(server.port, { encoding, timeoutMs: 20_000 });
    try {
      await viewer.waitFor({ expect: first.rgb, timeoutMs: 20_000 });
      producer.setImage(second.image);
      await viewer.waitFor({ expect: second.rgb, timeoutMs: 20_000 });
    } finally {
      await viewer.close();
      producer.setImage(first.image);
    }
  });

  it('TigerVNC with ZRLE (fresh connection) receives exactly the guest pixels', async () => {
    const img = await grabTigervnc(server.port, { encoding: 'ZRLE', expect: first.rgb, timeoutMs: 20_000 });
    assertSameImage(img, first.rgb, 'TigerVNC ZRLE');
  });
});
