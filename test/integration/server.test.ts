// The whole path with real VNC clients: a producer writes known pixels through the draft
// region protocol, `vgpu-vnc --device FILE` serves them, and what each client received must
// equal what the producer wrote.
import { describe, expect, it } from 'vitest';
import { grabGvnccapture, grabLibvnc, grabRfb2, grabTigervnc, openTigervnc } from '../helpers/clients.js';
import { assertSameImage, type RgbImage } from '../helpers/image.js';
import { startServer } from '../helpers/server.js';
import { serveImage } from '../helpers/served-image.js';
import { TestProducer, expectedRgb, makeImage } from '../helpers/test-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';

/** The picture a client with fewer bits per channel must show: top bits, widened as vncgrab does. */
function reduced(img: RgbImage, bits: [number, number, number]): RgbImage {
  const rgb = Buffer.alloc(img.rgb.length);
  for (let i = 0; i < img.rgb.length; i++) {
    const b = bits[i % 3]!;
    const max = (1 << b) - 1;
    const v = img.rgb[i]! >> (8 - b);
    rgb[i] = Math.floor((v * 255 + (max >> 1)) / max);
  }
  return { ...img, rgb };
}

/** Encodings of the pixel rectangles a client received (pseudo-encodings left out). */
function pixelEncodings(rects: Record<string, number>): string[] {
  return Object.keys(rects).filter((k) => !['extendeddesktopsize', 'desktopsize', 'lastrect'].includes(k));
}

describe('vgpu-vnc --device FILE with real clients', () => {
  // A padded stride and an offset: what real guests do, and what breaks naive readers.
  const first = makeImage(320, 200, { fourcc: Fourcc.XRGB8888, stride: 320 * 4 + 64, offset: 4096, seed: 3 });
  const served = serveImage(first);

  it('rfb2 (Raw) receives exactly the guest pixels', async () => {
    const img = await grabRfb2(served.server.port);
    assertSameImage(img, expectedRgb(first), 'rfb2');
    expect(img.rects.raw).toBeGreaterThan(0);
  });

  it('gvnccapture (gtk-vnc, exclusive) receives exactly the guest pixels', async () => {
    assertSameImage(await grabGvnccapture(served.server.port), expectedRgb(first), 'gvnccapture');
    expect(served.server.log()).toMatch(/exclusive/);
  });

  it.each([['raw'], ['hextile'], ['zrle']])('libvncclient with %s receives exactly the guest pixels', async (encoding) => {
    const img = await grabLibvnc(served.server.port, { encodings: [encoding] });
    assertSameImage(img, expectedRgb(first), `libvncclient ${encoding}`);
    expect(pixelEncodings(img.rects)).toEqual([encoding]);
  });

  it.each([
    [16, ['hextile'], [5, 6, 5]],
    [16, ['zrle'], [5, 6, 5]],
    [8, ['zrle'], [3, 3, 2]],
    [8, ['rre'], [3, 3, 2]],
  ] as const)('libvncclient at %d bpp with %s gets the guest pixels in its format', async (bpp, encodings, bits) => {
    const img = await grabLibvnc(served.server.port, { encodings: [...encodings], bpp });
    assertSameImage(img, reduced(expectedRgb(first), [...bits] as [number, number, number]), `libvncclient ${bpp} bpp`);
  });

  it('libvncclient big-endian 32 bpp (hextile) gets the guest pixels', async () => {
    assertSameImage(await grabLibvnc(served.server.port, { encodings: ['hextile'], bigEndian: true }), expectedRgb(first), 'big-endian');
  });

  it('TigerVNC viewer (asks for Tight first, with Fence and ContinuousUpdates) shows the guest pixels', async () => {
    assertSameImage(await grabTigervnc(served.server.port, { expect: expectedRgb(first) }), expectedRgb(first), 'tigervnc');
  });

  it('several clients at once all get the picture', async () => {
    const grabs = await Promise.all([
      grabLibvnc(served.server.port, { encodings: ['zrle'] }),
      grabLibvnc(served.server.port, { encodings: ['hextile'] }),
      grabRfb2(served.server.port),
      grabLibvnc(served.server.port, { encodings: ['raw'], bpp: 16 }),
    ]);
    assertSameImage(grabs[0], expectedRgb(first), 'client 1');
    assertSameImage(grabs[1], expectedRgb(first), 'client 2');
    assertSameImage(grabs[2], expectedRgb(first), 'client 3');
    assertSameImage(grabs[3], reduced(expectedRgb(first), [5, 6, 5]), 'client 4');
  });
});

describe('RRE with a real client', () => {
  it('libvncclient with rre receives a blocky guest picture exactly, as RRE', async () => {
    // RRE only pays on few-colour areas (on noise it falls back to Raw): give it blocks.
    const img = makeImage(200, 120, { seed: 1 });
    for (let y = 0; y < 120; y++)
      for (let x = 0; x < 200; x++) {
        const block = ((x >> 4) + (y >> 3) * 3) % 5;
        img.pixels.writeUInt32LE([0x102030, 0xffffff, 0x3366cc, 0xcc3311, 0x20a040][block]!, (y * 200 + x) * 4);
      }
    const producer = TestProducer.start(img);
    const server = await startServer(['--device', producer.path]);
    try {
      const got = await grabLibvnc(server.port, { encodings: ['rre'] });
      assertSameImage(got, expectedRgb(img), 'libvncclient rre');
      expect(pixelEncodings(got.rects)).toEqual(['rre']);
    } finally {
      await server.stop();
      producer.close();
    }
  });
});

describe('live changes reach connected clients', () => {
  it('a guest mode change and new pixels reach TigerVNC and libvncclient mid-session', async () => {
    const before = makeImage(256, 192, { seed: 5 });
    const after = makeImage(400, 240, { fourcc: Fourcc.BGR888, seed: 9 });
    const producer = TestProducer.start(before);
    const server = await startServer(['--device', producer.path]);
    const viewer = await openTigervnc(server.port);
    try {
      await viewer.waitFor({ expect: expectedRgb(before) });
      const pending = grabLibvnc(server.port, { encodings: ['zrle'], expectSize: { width: 400, height: 240 }, timeoutMs: 15_000 });
      await new Promise((r) => setTimeout(r, 500)); // libvncclient connected at the old size
      producer.setImage(after);
      const img = await viewer.waitFor({ expect: expectedRgb(after), timeoutMs: 15_000 });
      assertSameImage(img, expectedRgb(after), 'tigervnc after the mode change');
      assertSameImage(await pending, expectedRgb(after), 'libvncclient after the mode change');
    } finally {
      await viewer.close();
      await server.stop();
      producer.close();
    }
  });
});

describe('two viewers on a changing picture', () => {
  it('TigerVNC (Tight) and libvncclient (ZRLE) both end on the last frame while the picture changes under them', async () => {
    // A capture that one client waits for goes into the second buffer while the other client's
    // encode holds the first: whatever order that happens in, nobody may end on a torn frame.
    const frames = [21, 22, 23, 24, 25].map((seed) => makeImage(640, 400, { seed }));
    const last = frames.at(-1)!;
    const producer = TestProducer.start(frames[0]!);
    const server = await startServer(['--device', producer.path]);
    const viewer = await openTigervnc(server.port);
    try {
      await viewer.waitFor({ expect: expectedRgb(frames[0]!) });
      const grab = grabLibvnc(server.port, { encodings: ['zrle'], untilMs: 4000, timeoutMs: 15_000 });
      await new Promise((r) => setTimeout(r, 300)); // libvncclient has its first picture
      for (let i = 0; i < 30; i++) {
        producer.setImage(frames[i % frames.length]!);
        await new Promise((r) => setTimeout(r, 40));
      }
      assertSameImage(await viewer.waitFor({ expect: expectedRgb(last), timeoutMs: 15_000 }), expectedRgb(last), 'tigervnc');
      assertSameImage(await grab, expectedRgb(last), 'libvncclient');
    } finally {
      await viewer.close();
      await server.stop();
      producer.close();
    }
  });
});

describe('VNC authentication end to end', () => {
  const image = makeImage(64, 48, { seed: 11 });
  const served = serveImage(image, () => [], { env: { VGPU_VNC_PASSWORD: 's3cret' } });

  it('the right password shows the picture (libvncclient, TigerVNC)', async () => {
    assertSameImage(await grabLibvnc(served.server.port, { encodings: ['zrle'], password: 's3cret' }), expectedRgb(image), 'libvnc');
    assertSameImage(await grabTigervnc(served.server.port, { password: 's3cret', expect: expectedRgb(image) }), expectedRgb(image), 'tigervnc');
  });

  it('a wrong password is refused and the server keeps serving', async () => {
    await expect(grabLibvnc(served.server.port, { password: 'wrong' })).rejects.toThrow(/auth/i);
    assertSameImage(await grabRfb2(served.server.port, { password: 's3cret' }), expectedRgb(image), 'rfb2 after a failure');
  });
});
