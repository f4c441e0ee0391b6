// Tight with real clients: libvncclient (which asks for JPEG quality 5 with Tight by default)
// and the TigerVNC viewer (Tight is its default; lossless, and with JPEG). Lossy rects are
// refreshed losslessly once the picture stops changing, so every client must end up with
// exactly the guest's pixels.
import { describe, expect, it } from 'vitest';
import { grabLibvnc, grabTigervnc } from '../helpers/clients.js';
import { assertSameImage, describeDifference, type RgbImage } from '../helpers/image.js';
import { serveImage } from '../helpers/served-image.js';
import type { TestImage } from '../helpers/test-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { TightEncoder } from '../../src/rfb/encodings/index.js';
import type { PixelFormat } from '../../src/rfb/pixel-format.js';
import { TestClient } from '../decoders/index.js';

const W = 480, H = 300;

/** A desktop-like XRGB8888 picture: solid background, 2-colour text, a 10-colour panel, a photo-like gradient, noise. */
function desktopImage(): { image: TestImage; rgb: RgbImage } {
  const pixels = Buffer.alloc(W * H * 4);
  const rgb = Buffer.alloc(W * H * 3);
  let s = 7;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const TEN = [0x000000, 0xffffff, 0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0x00ffff, 0xff00ff, 0x808080, 0x336699];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let c = 0x3a6ea5;
      if (x >= 20 && x < 220 && y >= 20 && y < 140) c = (x * 7 + y * 3) % 11 < 3 ? 0x101010 : 0xf4f4f0;
      else if (x >= 240 && x < 460 && y >= 20 && y < 140) c = TEN[(Math.floor(x / 9) + Math.floor(y / 7) * 3) % 10]!;
      else if (x >= 20 && x < 300 && y >= 160 && y < 280)
        c = (Math.round(127 + 120 * Math.sin(x / 17)) << 16) | (Math.round(127 + 120 * Math.cos(y / 11)) << 8) | Math.round(127 + 120 * Math.sin((x + y) / 23));
      else if (x >= 320 && x < 460 && y >= 160 && y < 280) c = rnd() >>> 8;
      const o = y * W + x;
      pixels[o * 4] = c & 255; pixels[o * 4 + 1] = (c >> 8) & 255; pixels[o * 4 + 2] = (c >> 16) & 255;
      rgb[o * 3] = (c >> 16) & 255; rgb[o * 3 + 1] = (c >> 8) & 255; rgb[o * 3 + 2] = c & 255;
    }
  return {
    image: { pixels, geometry: { fourcc: Fourcc.XRGB8888, width: W, height: H, stride: W * 4, offset: 0 } },
    rgb: { width: W, height: H, rgb },
  };
}

describe('Tight with real clients', () => {
  const { image, rgb } = desktopImage();
  const served = serveImage(image);

  it('libvncclient with tight (JPEG quality 5) ends with exactly the guest pixels after the lossless refresh', async () => {
    const img = await grabLibvnc(served.server.port, { encodings: ['tight'], untilMs: 2500, timeoutMs: 15_000 });
    expect(img.rects.tight).toBeGreaterThan(0);
    expect(Object.keys(img.rects).filter((k) => !['extendeddesktopsize', 'desktopsize', 'lastrect'].includes(k))).toEqual(['tight']);
    assertSameImage(img, rgb, 'libvncclient tight');
    expect(served.server.log()).toMatch(/encoding Tight/);
  });

  it('libvncclient with tight sees the JPEG picture first (close, not exact)', async () => {
    const img = await grabLibvnc(served.server.port, { encodings: ['tight'], updates: 1, timeoutMs: 15_000 });
    expect(describeDifference(img, rgb)).not.toBeNull(); // lossy
    // The photo-like area within a PSNR bound; the solid background (fills) exact. (Text next to
    // the photo may share its JPEG piece, as with TigerVNC's server: only the refresh makes it exact.)
    let se = 0, n = 0;
    for (let y = 160; y < 280; y++)
      for (let x = 20; x < 300; x++)
        for (let c = 0; c < 3; c++) { const o = (y * W + x) * 3 + c; se += (img.rgb[o]! - rgb.rgb[o]!) ** 2; n++; }
    expect(10 * Math.log10((255 * 255 * n) / Math.max(se, 1))).toBeGreaterThan(30);
    for (const [x, y, w, h] of [[0, 0, W, 20], [0, 0, 20, H]] as const) {
      const crop = (im: RgbImage) => ({ width: w, height: h, rgb: Buffer.concat(Array.from({ length: h }, (_, r) => im.rgb.subarray(((y + r) * W + x) * 3, ((y + r) * W + x + w) * 3))) });
      expect(describeDifference(crop(img), crop(rgb))).toBeNull();
    }
  });

  it.each([16, 8] as const)('libvncclient with tight at %d bpp gets the guest pixels in its format', async (bpp) => {
    const img = await grabLibvnc(served.server.port, { encodings: ['tight'], bpp, untilMs: 2500, timeoutMs: 15_000 });
    const bits = bpp === 16 ? [5, 6, 5] : [3, 3, 2];
    const want = Buffer.alloc(rgb.rgb.length);
    for (let i = 0; i < want.length; i++) {
      const b = bits[i % 3]!, max = (1 << b) - 1;
      want[i] = Math.floor((((rgb.rgb[i]! >> (8 - b)) * 255) + (max >> 1)) / max);
    }
    assertSameImage(img, { ...rgb, rgb: want }, `libvncclient tight ${bpp} bpp`);
  });

  // libvncclient's formats (vncgrab): 32 bpp red at shift 0, and RGB565.
  const libvncFormat = (bpp: 32 | 16): PixelFormat => bpp === 32
    ? { bitsPerPixel: 32, depth: 24, bigEndian: false, trueColour: true, redMax: 255, greenMax: 255, blueMax: 255, redShift: 0, greenShift: 8, blueShift: 16 }
    : { bitsPerPixel: 16, depth: 16, bigEndian: false, trueColour: true, redMax: 31, greenMax: 63, blueMax: 31, redShift: 11, greenShift: 5, blueShift: 0 };

  it.each([32, 16] as const)('libvncclient with tight and no quality level (%d bpp): gradient-filtered rects, exactly the guest pixels', async (bpp) => {
    // The server's Tight encoder on this picture, for a client without a quality level, does
    // send gradient rects (checked with the test decoder, so the real client below gets them too).
    const probe = new TestClient(W, H, libvncFormat(bpp));
    const surface = { data: image.pixels, width: W, height: H };
    const entries = await new TightEncoder(false).encodeBatch(surface, [{ x: 0, y: 0, w: W, h: H }], libvncFormat(bpp));
    probe.decode(entries.flat(), entries.length);
    expect(probe.tight.seen.has('gradient')).toBe(true);

    const img = await grabLibvnc(served.server.port, { encodings: ['tight'], jpeg: false, bpp, timeoutMs: 15_000 });
    expect(img.rects.tight).toBeGreaterThan(0);
    let want = rgb;
    if (bpp === 16) {
      // libvncclient widens each channel back to 8 bits as (v * 255 + max / 2) / max.
      const bits = [5, 6, 5];
      want = { ...rgb, rgb: Buffer.alloc(rgb.rgb.length) };
      for (let i = 0; i < want.rgb.length; i++) {
        const b = bits[i % 3]!, max = (1 << b) - 1;
        want.rgb[i] = Math.floor((((rgb.rgb[i]! >> (8 - b)) * 255) + (max >> 1)) / max);
      }
    }
    assertSameImage(img, want, `libvncclient tight lossless ${bpp} bpp`);
  });

  it('TigerVNC viewer, Tight lossless: exactly the guest pixels', async () => {
    assertSameImage(await grabTigervnc(served.server.port, { encoding: 'Tight', expect: rgb }), rgb, 'tigervnc tight');
  });

  it('TigerVNC viewer, Tight with JPEG: exact once the lossy areas are refreshed', async () => {
    assertSameImage(await grabTigervnc(served.server.port, { encoding: 'Tight', jpeg: true, expect: rgb }), rgb, 'tigervnc tight+jpeg');
  });
});
