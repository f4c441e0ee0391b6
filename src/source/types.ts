// One interface for every source of guest pixels (DESIGN.md "Sources").
import type { NativeMapping, PlaneGeometry } from '../native.js';

/** What a source hands the surface for one tick. */
export type Frame =
  | { kind: 'plane'; mapping: NativeMapping; plane: PlaneGeometry }
  /** The guest is not scanning out (or the producer is broken): show a "no signal" screen with the reason. */
  | { kind: 'no-signal'; reason: string };

export interface FrameSource {
  /** Human-readable description for logs, e.g. 'fbregion /dev/shm/fb'. */
  readonly description: string;
  /**
   * Ask the producer for its newest frame. Resolves within a bounded time, never hangs:
   * a producer that does not answer yields its last good frame (and a log line, once).
   */
  nextFrame(): Promise<Frame>;
  close(): Promise<void>;
}

export type Logger = (message: string) => void;
