// What a client session sees of the server: the canonical surface and its damage.
// Sessions never touch the source; the display never knows about client protocol.
import type { EventEmitter } from 'node:events';
import type { SurfaceView } from '../rfb/encodings/types.js';
import type { TileGrid } from '../surface/dirty.js';
export type { Move } from '../surface/scroll.js';

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
  /**
   * Keep the surface's pixels as they are until the returned release is called (an encoder is
   * reading them, maybe off the JS thread): read `surface` right after holding, as a capture may
   * meanwhile put a newer frame in another buffer and make that the surface. Undefined while a
   * capture is writing the surface in place: try again on 'surface-free'. Absent: the surface
   * only changes between JS turns.
   */
  hold?(): (() => void) | undefined;
  /** The guest's cursor plane, where the source has one (undefined: none known). */
  readonly cursor?: CursorState;
  /**
   * A client's SetDesktopSize (one screen, WxH). 'forwarded': the guest was asked (EDID) and its
   * new mode will arrive as an ordinary 'resize'; 'invalid': no mode of that size can be asked for;
   * absent or 'prohibited': this display cannot be resized.
   */
  requestResize?(width: number, height: number): ResizeAnswer;
  // Events:
  //  'damage' (bitmap: Uint8Array, moves?: Move[], bounds?: Uint8Array) — tiles of `grid` that
  //      changed in the last capture; `moves` (in the order a client may apply them): areas that
  //      are the previous frame's pixels moved vertically (scrolls), each covering at least one
  //      whole dirty tile; `bounds`: per tile the box of changed pixels (CaptureResult.bounds
  //      layout, 4 bytes per tile; absent or all 0 for a tile = the whole tile), for
  //      TileBounds.addDamage
  //  'resize' (surface: SurfaceView) — new mode; `surface` and `grid` already replaced
  //  'cursor' (state: CursorState | undefined, shapeChanged: boolean) — `cursor` already replaced
  //  'surface-free' () — a capture that was writing the surface is done (see hold)
}

export type ResizeAnswer = 'forwarded' | 'prohibited' | 'invalid';

/** A cursor image: premultiplied alpha, bytes B,G,R,A per pixel (DRM ARGB8888), rows packed. */
export interface CursorImage {
  readonly width: number;
  readonly height: number;
  /** hotspot inside the image (0,0 when the guest gives none) */
  readonly hotX: number;
  readonly hotY: number;
  readonly pixels: Buffer;
}

export interface CursorState {
  /** undefined: the cursor is hidden (plane disabled) */
  readonly image: CursorImage | undefined;
  /** top-left of the image on the surface (may be negative or past the edge) */
  readonly x: number;
  readonly y: number;
}

/** Where keyboard and pointer events go (view-only when there is none). */
export interface InputSink {
  key(down: boolean, keysym: number, scancode?: number): void;
  pointer(buttonMask: number, x: number, y: number): void;
  /** A client that sent input went away: release what it may have left pressed. */
  releaseAll?(): void;
}
