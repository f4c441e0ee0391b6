// Tight JPEG rects above Tight's 64 Ki-pixel pieces, with real clients: a many-colour area
// goes as one JPEG per core (not one per 64 Ki pixels) for 32 bpp clients whose decoders take
// it; libvncclient at 16 bpp decodes JPEG through a 640×480-byte buffer and keeps the small
// pieces. Every client must show the picture within a PSNR bound first and, after the lossless
// refresh, exactly.
import { describe, expect, it } from 'vitest';
import { grabLibvnc, grabTigervnc } from '../helpers/clients.js';
import { assertSameImage, type RgbImage } from '../helpers/image.js';
import { serveImage } from '../helpers/served-image.js';
import type { TestImage } from '../helpers/test-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';

const W = 1280, H = 720;

/** A smooth many-colour picture over the whole screen: no solid block, every piece JPEG. */
function photoImage(): { image: TestImage; rgb: RgbImage } {
  const pixels = Buffer.alloc(W * H * 4);
  const rgb = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const r = Math.round(127 + 120 * Math.sin(x / 17 + y / 90));
      const g = Math.round(127 + 120 * Math.cos(y / 11 - x / 130));
      const b = Math.round(127 + 120 * Math.sin((x + y) / 23));
      const o = y * W + x;
      pixels[o * 4] = b; pixels[o * 4 + 1] = g; pixels[o * 4 + 2] = r;
      rgb[o * 3] = r; rgb[o * 3 + 1] = g; rgb[o * 3 + 2] = b;
    }
  return {
    image: { pixels, geometry: { fourcc: Fourcc.XRGB8888, width: W, height: H, stride: W * 4, offset: 0 } },
    rgb: { width: W, height: H, rgb },
  };
}

function psnr(a: RgbImage, b: RgbImage): number {
  let se = 0;
  for (let i = 0; i < a.rgb.length; i++) se += (a.rgb[i]! - b.rgb[i]!) ** 2;
  return 10 * Math.log10((255 * 255 * a.rgb.length) / Math.max(se, 1));
}

/** 64 Ki-pixel pieces of 1280-pixel rows: 51 rows each, 15 of them for 720 rows. */
const SMALL_PIECES = Math.ceil(H / Math.floor(65536 / W));

describe('Tight JPEG rects above 64 Ki pixels with real clients', () => {
  const { image, rgb } = photoImage();
  const served = serveImage(image);

  it('libvncclient (32 bpp, quality 5) decodes the big JPEG rects, then gets the exact pixels', async () => {
    const first = await grabLibvnc(served.server.port, { encodings: ['tight'], updates: 1, timeoutMs: 15_000 });
    // Fewer rects than 64 Ki-pixel pieces (921 600 pixels in at most 14: some rect holds more than 65 536).
    expect(first.rects.tight).toBeGreaterThan(0);
    expect(first.rects.tight).toBeLessThan(SMALL_PIECES);
    expect(psnr(first, rgb)).toBeGreaterThan(30);
    const settled = await grabLibvnc(served.server.port, { encodings: ['tight'], untilMs: 2500, timeoutMs: 15_000 });
    assertSameImage(settled, rgb, 'libvncclient tight, big JPEG then refresh');
  });

  it('libvncclient at 16 bpp gets 64 Ki-pixel JPEG pieces (its JPEG buffer), then the exact pixels', async () => {
    const first = await grabLibvnc(served.server.port, { encodings: ['tight'], bpp: 16, updates: 1, timeoutMs: 15_000 });
    expect(first.rects.tight).toBeGreaterThanOrEqual(SMALL_PIECES);
    const settled = await grabLibvnc(served.server.port, { encodings: ['tight'], bpp: 16, untilMs: 2500, timeoutMs: 15_000 });
    const bits = [5, 6, 5];
    const want = Buffer.alloc(rgb.rgb.length);
    for (let i = 0; i < want.length; i++) {
      const b = bits[i % 3]!, max = (1 << b) - 1;
      want[i] = Math.floor((((rgb.rgb[i]! >> (8 - b)) * 255) + (max >> 1)) / max);
    }
    assertSameImage(settled, { ...rgb, rgb: want }, 'libvncclient tight 16 bpp');
  });

  it('TigerVNC viewer with JPEG takes the big rects and ends exact after the refresh', async () => {
    assertSameImage(await grabTigervnc(served.server.port, { encoding: 'Tight', jpeg: true, expect: rgb }), rgb, 'tigervnc tight+jpeg, big rects');
  });
});
