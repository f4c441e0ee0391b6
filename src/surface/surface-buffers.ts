// The canonical surface as two buffers, so that one client's slow encode does not hold back the
// frames another client is waiting for. Encoders hold the front while they read it; a capture
// writes the front when nobody holds it, and otherwise — when a client is waiting — writes the
// spare, brought up to date first, and makes it the front. A held buffer never changes.
import type { SurfaceView } from '../rfb/encodings/types.js';
import type { TileGrid } from './dirty.js';

interface Spare {
  readonly data: Buffer;
  /** Tiles where the spare differs from the front (the spare is behind by these). */
  readonly stale: Uint8Array;
}

export class SurfaceBuffers {
  private current: SurfaceView;
  private grid: TileGrid;
  private spare: Spare | undefined;
  /** Holds per buffer (a buffer with none is absent). */
  private readonly holds = new Map<Buffer, number>();
  private writingFront = false;
  /** From take() until present(), untouched() or finishWrite(). */
  private taken: Buffer | undefined;
  private waiter: (() => void) | undefined;

  constructor(front: SurfaceView, grid: TileGrid) {
    this.current = front;
    this.grid = grid;
  }

  /** What encoders read from now; a new object whenever the front changes buffers. */
  get front(): SurfaceView {
    return this.current;
  }

  /** Keeps the front's pixels unchanged until the release is called; undefined while a capture writes the front. */
  hold(): (() => void) | undefined {
    if (this.writingFront) return undefined;
    const data = this.current.data;
    this.holds.set(data, (this.holds.get(data) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.holds.get(data)! - 1;
      if (left > 0) this.holds.set(data, left);
      else this.holds.delete(data);
      this.wake();
    };
  }

  /**
   * A buffer the next frame may be written into, holding the latest frame: the front when
   * nobody holds it (holds are then refused until finishWrite), else the spare when `useSpare`
   * and nobody holds that; undefined when neither is free (see changed()).
   */
  take(useSpare: boolean): Buffer | undefined {
    const front = this.current.data;
    if (!this.holds.has(front)) {
      this.writingFront = true;
      this.taken = front;
      return front;
    }
    if (!useSpare || (this.spare && this.holds.has(this.spare.data))) return undefined;
    this.taken = this.catchUpSpare();
    return this.taken;
  }

  /** Whether `b` may still be written by the current capture: taken and not yet shown, or the front it writes in place. */
  writable(b: Buffer): boolean {
    return b === this.taken || (this.writingFront && b === this.current.data);
  }

  /** Nothing was written into `target` after all. */
  untouched(target: Buffer): void {
    if (this.taken === target) this.taken = undefined;
  }

  /** Resolves at the next release, or when wake() is called (the caller's conditions changed). */
  changed(): Promise<void> {
    return new Promise<void>((resolve) => {
      const before = this.waiter;
      this.waiter = () => {
        before?.();
        resolve();
      };
    });
  }

  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /**
   * `target` (from take()) now holds the new frame, differing from the previous one in the tiles
   * of `dirty` (every tile when undefined). A written spare becomes the front.
   */
  present(target: Buffer, dirty: Uint8Array | undefined): void {
    if (this.taken === target) this.taken = undefined;
    if (target === this.current.data) {
      if (this.spare) markStale(this.spare.stale, dirty);
      return;
    }
    if (target !== this.spare?.data) throw new Error('present: not a buffer of this surface');
    const old = this.current.data;
    this.current = { data: target, width: this.current.width, height: this.current.height };
    const stale = this.grid.newBitmap(0);
    markStale(stale, dirty);
    this.spare = { data: old, stale };
  }

  /**
   * Ends the write; true if it was into the front (holds are given again). A spare taken and
   * neither presented nor untouched (a capture that failed half-way) is behind by every tile.
   */
  finishWrite(): boolean {
    if (this.taken && this.taken === this.spare?.data) this.spare.stale.fill(1);
    this.taken = undefined;
    const was = this.writingFront;
    this.writingFront = false;
    return was;
  }

  /** A new mode: `front` replaces both buffers (holds of the old ones simply run out). */
  replace(front: SurfaceView, grid: TileGrid): void {
    this.current = front;
    this.grid = grid;
    this.spare = undefined;
    this.taken = undefined;
  }

  /** The spare (made on first use), with the tiles it is behind by copied from the front. */
  private catchUpSpare(): Buffer {
    const front = this.current;
    if (!this.spare) {
      this.spare = { data: Buffer.allocUnsafe(front.data.length), stale: this.grid.newBitmap(1) };
    }
    copyTiles(front, this.spare.data, this.grid, this.spare.stale);
    this.spare.stale.fill(0);
    return this.spare.data;
  }
}

function markStale(stale: Uint8Array, dirty: Uint8Array | undefined): void {
  if (!dirty || dirty.length !== stale.length) {
    stale.fill(1);
    return;
  }
  for (let i = 0; i < stale.length; i++) stale[i] |= dirty[i]!;
}

/** Copies the tiles marked in `tiles` from `from` into `to` (same size): runs of tiles row by row, one copy when all are marked. */
export function copyTiles(from: SurfaceView, to: Buffer, grid: TileGrid, tiles: Uint8Array): void {
  if (tiles.every((t) => t !== 0)) {
    from.data.copy(to);
    return;
  }
  const stride = from.width * 4;
  const t = grid.tileSize;
  for (let ty = 0; ty < grid.tilesY; ty++) {
    const row = ty * grid.tilesX;
    const y0 = ty * t, y1 = Math.min(from.height, y0 + t);
    for (let tx = 0; tx < grid.tilesX; ) {
      if (!tiles[row + tx]) {
        tx++;
        continue;
      }
      let end = tx;
      while (end < grid.tilesX && tiles[row + end]) end++;
      const start = tx * t * 4, stop = Math.min(from.width, end * t) * 4;
      for (let y = y0; y < y1; y++) from.data.copy(to, y * stride + start, y * stride + start, y * stride + stop);
      tx = end;
    }
  }
}
