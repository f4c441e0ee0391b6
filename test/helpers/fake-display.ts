// A Display for session tests: a surface you paint, emitting 'damage' and 'resize' as the
// captured display does. Pixels are canonical XRGB8888 (bytes B,G,R,0).
import { EventEmitter } from 'node:events';
import type { Display } from '../../src/server/display.js';
import type { Rect, SurfaceView } from '../../src/rfb/encodings/types.js';
import { TileGrid } from '../../src/surface/dirty.js';

export class FakeDisplay extends EventEmitter implements Display {
  surface: SurfaceView;
  grid: TileGrid;
  readonly name: string;
  /** How often a session asked for a frame. */
  wantFrameCalls = 0;

  constructor(width: number, height: number, readonly tileSize = 16, name = 'fake display') {
    super();
    this.name = name;
    this.surface = { data: Buffer.alloc(width * height * 4), width, height };
    this.grid = new TileGrid(width, height, tileSize);
  }

  /** Holds taken by encoders (see Display.hold) and not yet released. */
  holds = 0;
  hold(): () => void {
    this.holds++;
    let done = false;
    return () => {
      if (!done) this.holds--;
      done = true;
    };
  }

  wantFrame(): void {
    this.wantFrameCalls++;
    this.emit('want');
  }

  /** Fill `r` with one colour, without announcing it. */
  fill(r: Rect, red: number, green: number, blue: number): void {
    const { data, width } = this.surface;
    for (let y = r.y; y < r.y + r.h; y++)
      for (let x = r.x; x < r.x + r.w; x++) {
        const o = (y * width + x) * 4;
        data[o] = blue;
        data[o + 1] = green;
        data[o + 2] = red;
        data[o + 3] = 0;
      }
  }

  /** Give every pixel a distinct colour derived from its position. */
  fillPattern(seed = 0): void {
    const { data, width, height } = this.surface;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 4;
        data[o] = (x * 7 + seed) & 0xff;
        data[o + 1] = (y * 13 + seed) & 0xff;
        data[o + 2] = (x + y * 3 + seed * 5) & 0xff;
        data[o + 3] = 0;
      }
  }

  /** Paint `r` and emit the damage of exactly the tiles it touches. */
  paint(r: Rect, red: number, green: number, blue: number): Uint8Array {
    this.fill(r, red, green, blue);
    const bitmap = this.grid.newBitmap();
    this.grid.markRect(bitmap, r);
    this.emit('damage', bitmap);
    return bitmap;
  }

  /** Emit damage for every tile (e.g. after fillPattern). */
  damageAll(): void {
    this.emit('damage', this.grid.newBitmap(1));
  }

  /** A new mode: new surface and grid, then 'resize'. */
  resize(width: number, height: number): void {
    this.surface = { data: Buffer.alloc(width * height * 4), width, height };
    this.grid = new TileGrid(width, height, this.tileSize);
    this.emit('resize', this.surface);
  }
}
