// What a client session sees of the server: the canonical surface and its damage.
// Sessions never touch the source; the display never knows about client protocol.
import type { EventEmitter } from 'node:events';
import type { SurfaceView } from '../rfb/encodings/types.js';
import type { TileGrid } from '../surface/dirty.js';

export interface Display extends EventEmitter {
  /** Current canonical surface (XRGB8888). Replaced (new object) on every mode change. */
  readonly surface: SurfaceView;
  /** Tile grid of the current surface; damage bitmaps use it. */
  readonly grid: TileGrid;
  /** Desktop name sent in ServerInit. */
  readonly name: string;
  /**
   * A session has an outstanding update request: capture soon. The poller reads the
   * framebuffer only while some session wants frames.
   */
  wantFrame(): void;
  // Events:
  //  'damage' (bitmap: Uint8Array)  — tiles of `grid` that changed in the last capture
  //  'resize' (surface: SurfaceView) — new mode; `surface` and `grid` already replaced
}

/** Where keyboard and pointer events go (view-only when there is none). */
export interface InputSink {
  key(down: boolean, keysym: number, scancode?: number): void;
  pointer(buttonMask: number, x: number, y: number): void;
}
