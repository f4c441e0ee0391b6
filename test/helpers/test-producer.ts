// A producer for tests: serves known images over the draft region protocol and can be told
// to misbehave (never answer, answer with nonsense geometry, truncate its file).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FbRegionProducer, type FrameGeometry, type TrailerFields } from '../../src/source/fbregion-producer.js';
import { Fourcc, bytesPerPixel } from '../../src/surface/fourcc.js';
import type { RgbImage } from './image.js';

export interface TestImage {
  pixels: Buffer;
  geometry: FrameGeometry;
}

/**
 * A deterministic image: every byte of every pixel differs with x, y and `seed`, so a
 * misplaced row, column or channel shows. Padding bytes (stride beyond the pixels) are 0xEE.
 */
export function makeImage(
  width: number,
  height: number,
  options: { fourcc?: number; stride?: number; offset?: number; seed?: number } = {},
): TestImage {
  const fourcc = options.fourcc ?? Fourcc.XRGB8888;
  const bpp = bytesPerPixel(fourcc)!;
  const stride = options.stride ?? width * bpp;
  const seed = options.seed ?? 1;
  const pixels = Buffer.alloc(stride * height, 0xee);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < bpp; c++) pixels[y * stride + x * bpp + c] = (x * 7 + y * 13 + c * 61 + seed * 29) & 0xff;
    }
  }
  return { pixels, geometry: { fourcc, width, height, stride, offset: options.offset ?? 0 } };
}

/** What the guest wrote, as RGB, read straight from the fourcc's byte layout (what a client must show). */
export function expectedRgb(img: TestImage): RgbImage {
  const { width, height, stride, fourcc } = img.geometry;
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (fourcc === Fourcc.XRGB8888) {
        const s = y * stride + x * 4; // bytes B,G,R,X
        rgb[o] = img.pixels[s + 2]!;
        rgb[o + 1] = img.pixels[s + 1]!;
        rgb[o + 2] = img.pixels[s]!;
      } else if (fourcc === Fourcc.BGR888) {
        const s = y * stride + x * 3; // bytes R,G,B
        rgb[o] = img.pixels[s]!;
        rgb[o + 1] = img.pixels[s + 1]!;
        rgb[o + 2] = img.pixels[s + 2]!;
      } else throw new Error('expectedRgb: add this fourcc');
    }
  return { width, height, rgb };
}

export type Behaviour =
  | { kind: 'normal' }
  /** never answers REQUEST_UPDATE */
  | { kind: 'silent' }
  /** answers with these trailer values written over a valid trailer */
  | { kind: 'nonsense'; fields: Partial<TrailerFields> };

export class TestProducer {
  readonly producer: FbRegionProducer;
  /** REQUEST_UPDATEs seen (answered or not). */
  requests = 0;
  private image: TestImage;
  private behaviour: Behaviour = { kind: 'normal' };
  private serving = false;

  private constructor(readonly path: string, private readonly dir: string, image: TestImage) {
    this.image = image;
    this.producer = new FbRegionProducer(path);
    this.producer.ensureFits(image.geometry);
    this.serve();
  }

  /** Creates a file in a fresh temporary folder and starts serving `image`. */
  static start(image: TestImage): TestProducer {
    const dir = mkdtempSync(join(tmpdir(), 'vgpu-vnc-fbregion-'));
    return new TestProducer(join(dir, 'fb'), dir, image);
  }

  /** A new picture (and mode): shown from the next request on. */
  setImage(image: TestImage): void {
    this.image = image;
  }

  behave(behaviour: Behaviour): void {
    this.behaviour = behaviour;
    // Silence is simply not polling: the reader's REQUEST_UPDATE stays unanswered.
    if (behaviour.kind === 'silent') {
      this.producer.stop();
      this.serving = false;
    } else this.serve();
  }

  /** Cuts the file to `bytes` (0 by default), as a crashing guest might. */
  truncate(bytes = 0): void {
    this.producer.resize(bytes);
  }

  /** Restores a proper file for the current image after truncate(). */
  rewrite(): void {
    this.producer.ensureFits(this.image.geometry);
    this.producer.present(this.image.pixels, this.image.geometry);
  }

  close(): void {
    this.producer.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private serve(): void {
    if (this.serving) return;
    this.serving = true;
    this.producer.serve(() => this.answer(), { pollMs: 1 });
  }

  private answer(): TestImage | null {
    this.requests++;
    if (this.behaviour.kind === 'nonsense') {
      // Same thread as the reader in tests, so no one sees the valid trailer in between.
      this.producer.present(this.image.pixels, this.image.geometry);
      this.producer.writeTrailer({ ...this.behaviour.fields });
      return null;
    }
    return this.image;
  }
}
