// The PRODUCER side of the draft region protocol (REFERENCE.md §3), in plain JavaScript:
// a "guest" that owns a file, writes pixels into it and answers the reader's requests.
// Writes go through pwrite into the page cache, which is exactly what the server mmaps
// (MAP_SHARED), so no flush or msync is needed for the reader to see them.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { bytesPerPixel, describeFourcc } from '../surface/fourcc.js';

/** Size of the trailer at the end of the file: seven little-endian u32s. */
export const TRAILER_SIZE = 28;
export const TRAILER_ARGSZ = 28;
/** Trailer field offsets, relative to the trailer start. */
export const TrailerField = { argsz: 0, format: 4, offset: 8, width: 12, height: 16, stride: 20, state: 24 } as const;
export const State = { REQUEST_UPDATE: 1, UPDATE_COMPLETE: 2 } as const;

export interface FrameGeometry {
  fourcc: number;
  width: number;
  height: number;
  /** bytes per line */
  stride: number;
  /** byte offset of the first pixel in the file */
  offset: number;
}

export interface TrailerFields extends FrameGeometry {
  argsz: number;
  state: number;
}

/** What a render callback hands back: a frame to present, or null for "nothing changed". */
export type RenderResult = { pixels: Buffer; geometry: FrameGeometry } | null;

const PAGE = 4096;

/** Bytes a frame needs from the start of the file (pixels only, no trailer). */
export function frameExtent(g: FrameGeometry): number {
  const bpp = bytesPerPixel(g.fourcc);
  if (bpp === undefined) throw new Error(`unknown fourcc ${describeFourcc(g.fourcc)}`);
  return g.offset + g.stride * (g.height - 1) + g.width * bpp;
}

/** Smallest page-rounded file size that holds the frame and, after it, the trailer. */
export function fileSizeFor(g: FrameGeometry): number {
  return Math.ceil((frameExtent(g) + TRAILER_SIZE) / PAGE) * PAGE;
}

export interface ServeOptions {
  /** How often the state word is polled, in ms (default 2). */
  pollMs?: number;
  /** Called when the render callback throws; serving continues. */
  onError?: (err: unknown) => void;
}

export class FbRegionProducer {
  private fd: number;
  private readonly word = Buffer.alloc(4);
  private timer: NodeJS.Timeout | undefined;
  private serving = false;

  /** Opens (creating if needed) the file; `initialSize` grows it so a trailer exists at once. */
  constructor(readonly path: string, initialSize = 0) {
    // Read-write, created if missing, not truncated: a reader may already have it mapped.
    this.fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    if (initialSize > 0) this.resize(Math.max(initialSize, TRAILER_SIZE));
  }

  get size(): number {
    return fstatSync(this.fd).size;
  }

  /** Sets the file size exactly (ftruncate); the trailer moves to the new end. */
  resize(bytes: number): void {
    ftruncateSync(this.fd, bytes);
  }

  /** Grows the file if the frame (and the trailer after it) does not fit; never shrinks. */
  ensureFits(g: FrameGeometry): void {
    const need = fileSizeFor(g);
    if (this.size < need) this.resize(need);
  }

  /**
   * Publishes a frame: pixels at `geometry.offset` (row by row when the buffer is tightly
   * packed but the stride is wider), then the trailer, then state = UPDATE_COMPLETE last,
   * so a reader that sees 2 also sees the pixels and geometry.
   * `pixels` holds the frame with `geometry.stride` bytes per line.
   */
  present(pixels: Buffer, geometry: FrameGeometry): void {
    this.ensureFits(geometry);
    const needed = frameExtent(geometry) - geometry.offset;
    if (pixels.length < needed) {
      throw new Error(`present: ${pixels.length} bytes given, the geometry needs ${needed}`);
    }
    writeSync(this.fd, pixels, 0, needed, geometry.offset);
    this.writeTrailer({ ...geometry, argsz: TRAILER_ARGSZ, state: State.UPDATE_COMPLETE });
  }

  /**
   * Writes trailer fields as given (no validation: tests use this to misbehave).
   * The state word, if present, is written after the others.
   */
  writeTrailer(fields: Partial<TrailerFields>): void {
    const base = this.size - TRAILER_SIZE;
    if (base < 0) throw new Error(`file ${this.path} is smaller than the ${TRAILER_SIZE}-byte trailer`);
    const head = Buffer.alloc(24);
    this.readAt(head, base);
    const set = (name: keyof typeof TrailerField, v: number | undefined): void => {
      if (v !== undefined) head.writeUInt32LE(v >>> 0, TrailerField[name]);
    };
    set('argsz', fields.argsz);
    set('format', fields.fourcc);
    set('offset', fields.offset);
    set('width', fields.width);
    set('height', fields.height);
    set('stride', fields.stride);
    writeSync(this.fd, head, 0, 24, base);
    if (fields.state !== undefined) this.writeState(fields.state);
  }

  readTrailer(): TrailerFields {
    const t = Buffer.alloc(TRAILER_SIZE);
    this.readAt(t, this.size - TRAILER_SIZE);
    return {
      argsz: t.readUInt32LE(TrailerField.argsz),
      fourcc: t.readUInt32LE(TrailerField.format),
      offset: t.readUInt32LE(TrailerField.offset),
      width: t.readUInt32LE(TrailerField.width),
      height: t.readUInt32LE(TrailerField.height),
      stride: t.readUInt32LE(TrailerField.stride),
      state: t.readUInt32LE(TrailerField.state),
    };
  }

  /** The state word (0 if the file is too small to hold a trailer). */
  readState(): number {
    const size = this.size;
    if (size < TRAILER_SIZE) return 0;
    return readSync(this.fd, this.word, 0, 4, size - 4) === 4 ? this.word.readUInt32LE(0) : 0;
  }

  writeState(state: number): void {
    const size = this.size;
    if (size < TRAILER_SIZE) return;
    this.word.writeUInt32LE(state >>> 0, 0);
    writeSync(this.fd, this.word, 0, 4, size - 4);
  }

  /**
   * Serves requests: polls the state word every `pollMs`; on REQUEST_UPDATE calls `render`,
   * presents what it returns (or, for null, only acknowledges: the last frame still stands),
   * then writes UPDATE_COMPLETE. Timers only, so it shares an event loop with a reader.
   */
  serve(render: () => RenderResult | Promise<RenderResult>, options: ServeOptions = {}): void {
    if (this.serving) throw new Error('already serving');
    this.serving = true;
    const pollMs = options.pollMs ?? 2;
    const tick = async (): Promise<void> => {
      if (!this.serving) return;
      try {
        if (this.readState() === State.REQUEST_UPDATE) {
          const frame = await render();
          if (!this.serving) return;
          if (frame) this.present(frame.pixels, frame.geometry);
          else this.writeState(State.UPDATE_COMPLETE);
        }
      } catch (err) {
        options.onError?.(err);
      }
      if (this.serving) this.timer = setTimeout(() => void tick(), pollMs);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  /** Stops serving; the file stays as it is. */
  stop(): void {
    this.serving = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private readAt(buf: Buffer, position: number): void {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    buf.fill(0, done);
  }
}
