// Typed view of the C++ addon (native/). The addon owns every mapping: JavaScript
// only ever sees copies or buffers it allocated itself.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Plane geometry as the guest describes it; validated natively before any read. */
export interface PlaneGeometry {
  fourcc: number;
  width: number;
  height: number;
  /** bytes per line in the source */
  stride: number;
  /** byte offset of the first pixel inside the mapping */
  offset: number;
}

export interface CaptureResult {
  /** one byte per tile, row-major, 1 = tile changed (tilesX × tilesY) */
  dirty: Uint8Array;
  tilesX: number;
  tilesY: number;
  /** number of dirty tiles */
  dirtyCount: number;
}

/** A shared, read-write mapping of a whole file (or later a device region). */
export interface NativeMapping {
  readonly size: number;
  /**
   * Guarded 32-bit little-endian read (any alignment). Throws RangeError code 'ERANGE' out of
   * bounds, Error code 'SIGBUS' if the page vanished (file truncated), 'EBADF' after close().
   */
  readU32(offset: number): number;
  writeU32(offset: number, value: number): void;
  /** Copy bytes out (guarded, bounds-checked like readU32). */
  read(offset: number, length: number): Buffer;
  /** Unmap (deferred until running captures finish). Idempotent. */
  close(): void;
}

export interface NativeZStream {
  /**
   * Compress input and Z_SYNC_FLUSH; output continues one zlib stream (header first call only).
   * An empty input right after a flush yields an empty Buffer.
   */
  deflate(input: Uint8Array): Buffer;
  reset(): void;
}

export interface NativeAddon {
  Mapping: new (path: string) => NativeMapping;
  /**
   * Convert the plane (any supported fourcc) into `surface` (XRGB8888, width×height×4,
   * tightly packed), comparing against what `surface` held: tiles that differ are dirty.
   * `full` marks every tile dirty (first frame, new mode). Runs off the JS thread.
   * Rejects with code 'EINVAL' for bad geometry (one-line message naming the field; checked
   * before any read), 'EBADF' for a closed mapping, 'SIGBUS' if the mapping vanished mid-read.
   * Limits: width/height 1..16384, width*Bpp <= stride <= 1 MiB, tileSize 8..256.
   */
  capture(mapping: NativeMapping, plane: PlaneGeometry, surface: Buffer, tileSize: number, full: boolean): Promise<CaptureResult>;
  /** Synchronous twin of capture() for tests and benchmarks. */
  captureSync(mapping: NativeMapping, plane: PlaneGeometry, surface: Buffer, tileSize: number, full: boolean): CaptureResult;
  /** Plain memcpy of mapping bytes [offset, offset+length) into dst, for benchmarks (baseline). */
  memcpyBench(dst: Buffer, src: NativeMapping, offset: number, length: number): void;
  ZStream: new (level: number) => NativeZStream;
  /** Fourccs the converter knows. */
  supportedFourccs(): number[];
}

function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'build', 'Release', 'vgpu_vnc.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('native addon not built: run `npm install` (or `npm run build`) in the vgpu-vnc folder');
}

export const native: NativeAddon = createRequire(import.meta.url)(findAddon()) as NativeAddon;
