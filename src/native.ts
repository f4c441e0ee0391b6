// Typed view of the C++ addon (native/). The addon owns every mapping: JavaScript
// only ever sees copies or buffers it allocated itself.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Rect } from './rfb/encodings/types.js';
import type { PixelFormat } from './rfb/pixel-format.js';

/** Plane geometry as the guest describes it; validated natively before any read. */
export interface PlaneGeometry {
  fourcc: number;
  width: number;
  height: number;
  /** bytes per line in the source */
  stride: number;
  /** byte offset of the first pixel inside the mapping */
  offset: number;
  /**
   * DRM format modifier (drm_fourcc.h), a BigInt because Intel modifiers exceed 2^53. Absent or
   * 0n = linear; I915 X-tiled 0x0100000000000001n and Y-tiled …02n are de-tiled on the CPU; anything
   * else (Yf …03n included) is refused with code 'EINVAL'. Tiled planes need stride % tile width == 0
   * (X 512, Y 128) and the mapping must hold whole tile rows (height rounded up to 8 / 32).
   */
  modifier?: bigint;
}

export interface CaptureResult {
  /** one byte per tile, row-major, 1 = tile changed (tilesX × tilesY) */
  dirty: Uint8Array;
  tilesX: number;
  tilesY: number;
  /** number of dirty tiles */
  dirtyCount: number;
  /**
   * 4 bytes per tile (tilesX × tilesY × 4): x0, y0, x1, y1 of the pixels that changed, tile-local,
   * x1/y1 exclusive; all 0 for a clean tile; the whole tile (clipped to the surface) when `full`.
   * Tile sizes above 255 do not fit: then all 0 (a dirty tile without bounds = the whole tile).
   * See TileBounds (src/surface/dirty.ts).
   */
  bounds: Uint8Array;
  /** true when no full pass ran (the probe saw nothing, or fullPassOnChange was false): dirty is all 0 */
  probeOnly: boolean;
  /** true when the probe saw a changed row (false without a probe) */
  probeChanged: boolean;
}

/**
 * A cheap idle check before the full pass (x11vnc-style): only rows phase, phase+rowStep, … are
 * looked at, through the source signatures (the capture's `sourceSigs`, required with a probe). A
 * segment of such a row is unchanged when its source, converted, hashes to its signature, or else
 * when it converts to exactly what the surface holds (it is then signed from the surface). If any
 * probed segment differs, the full pass runs as without a probe.
 */
export interface CaptureProbe {
  /** 1..256 */
  rowStep: number;
  /** 0..rowStep-1 */
  phase: number;
  /**
   * false: stop after the probe even when it sees a change (probeChanged says so); lets a caller
   * probe synchronously and leave the full pass to capture(). Default true.
   */
  fullPassOnChange?: boolean;
}

/**
 * What scroll detection needs from a capture (src/surface/scroll.ts), buffers owned by the caller.
 * segmentHashes: height × tilesX u64, [y*tilesX + tx] = hash of the new surface's row y in tile
 * column tx; rewritten for dirty tiles (every tile when `full`), the others keep their value.
 * oldRows (optional): ceil(height/oldRowStep) rows; before a non-full pass overwrites surface row
 * k*oldRowStep it copies that row to oldRows row k (the previous frame's real pixels, sampled).
 * With SourceSigs only the segments compared are copied: where a segment's value is not 1 after
 * the pass it did not change in that row, and its old pixels are the surface's (KeptRows in
 * src/surface/scroll.ts reads them so).
 */
export interface CaptureHistory {
  segmentHashes: Uint8Array;
  /** Rewrite every segment's hash, not only the dirty tiles' (the hashes went stale while captures kept none). */
  hashAll?: boolean;
  oldRows?: Uint8Array;
  /** 1..256, required with oldRows */
  oldRowStep?: number;
}

/**
 * Source signatures for the non-full pass, buffer owned by the caller: one u64 per row and
 * segment of `segmentWidth` pixels, [y*ceil(width/segmentWidth) + s]: 0 = unknown, 1 = changed in
 * the last pass, else a hash of the pixels the surface holds there. A segment whose source,
 * converted, hashes to its signature is skipped without reading the surface; the others are
 * compared as without signatures (the same dirty tiles and bounds), then signed from the surface
 * unless they changed. A full pass signs every segment. Zero them whenever the surface changes
 * otherwise (a new surface, pixels drawn into it, a capture without them), and now and then
 * anyway: a hash collision would hide a change until that segment changes again.
 */
export interface SourceSigs {
  /** height × ceil(width / segmentWidth) × 8 bytes */
  sigs: Uint8Array;
  /** a multiple of the tile size, at most 256 */
  segmentWidth: number;
  /** Run the portable kernels even where the CPU has AVX2 (tests: both must agree). */
  portableKernels?: boolean;
}

/** A shared, read-write mapping of a whole file (or later a device region). */
export interface NativeMapping {
  readonly size: number;
  /** false for dma-buf mappings and read-only regions: write()/writeU32() then throw code 'EACCES'. */
  readonly writable: boolean;
  /**
   * Guarded 32-bit little-endian read (any alignment). Throws RangeError code 'ERANGE' out of
   * bounds, Error code 'SIGBUS' if the page vanished (file truncated), 'EBADF' after close().
   */
  readU32(offset: number): number;
  writeU32(offset: number, value: number): void;
  /** Copy bytes in (guarded, bounds-checked like readU32; 'EACCES' when read-only). */
  write(offset: number, data: Uint8Array): void;
  /** Copy bytes out (guarded, bounds-checked like readU32). */
  read(offset: number, length: number): Buffer;
  /** Unmap (deferred until running captures finish). Idempotent. */
  close(): void;
}

/** VFIO_DEVICE_GET_INFO. */
export interface VfioDeviceInfo {
  flags: number;
  numRegions: number;
  numIrqs: number;
}

/** One entry of a region's capability chain (vfio_info_cap_header and what follows). */
export interface VfioRegionCap {
  /** VFIO_REGION_INFO_CAP_*: 1 sparse mmap, 2 type, 3 MSI-X mappable */
  id: number;
  version: number;
  /** for id 2: VFIO_REGION_TYPE_* (1 = GFX) and subtype (GFX: 1 = EDID) */
  type?: number;
  subtype?: number;
  /** for id 1: number of sparse mmap areas */
  areas?: number;
}

/** VFIO_DEVICE_GET_REGION_INFO. */
export interface VfioRegionInfo {
  index: number;
  /** VFIO_REGION_INFO_FLAG_*: READ 1, WRITE 2, MMAP 4, CAPS 8 */
  flags: number;
  size: number;
  /** offset of the region in the device fd (for mmap / pread / pwrite) */
  offset: number;
  caps: VfioRegionCap[];
}

/** A decoded struct vfio_device_gfx_plane_info (REFERENCE.md §1). drmFormat 0 = plane disabled. */
export interface VfioPlaneInfo {
  ok: true;
  drmFormat: number;
  modifier: bigint;
  width: number;
  height: number;
  stride: number;
  size: number;
  xPos: number;
  yPos: number;
  xHot: number;
  yHot: number;
  /** REGION queries */
  regionIndex?: number;
  /** DMABUF queries */
  dmabufId?: number;
}

/** A query the driver refused: code is the errno name ('ENOMEM', 'EAGAIN', 'EINVAL', 'ENOTTY', 'EBADF', …). */
export interface VfioPlaneError {
  ok: false;
  code: string;
  message: string;
}

export type VfioPlaneType = 'primary' | 'cursor';
export type VfioPlaneKind = 'region' | 'dmabuf';

/**
 * An open VFIO device (plus its group/container or iommufd). Every failure throws an Error whose
 * `code` is an errno name and whose message is one line, except queryPlane which returns it.
 */
export interface NativeVfioDevice {
  /** e.g. '/dev/vfio/0 device <uuid>', '/dev/vfio/devices/vfio0', 'fd 3' */
  readonly description: string;
  info(): VfioDeviceInfo;
  /** undefined when the driver has no such region (EINVAL) */
  regionInfo(index: number): VfioRegionInfo | undefined;
  queryPlane(type: VfioPlaneType, kind: VfioPlaneKind): VfioPlaneInfo | VfioPlaneError;
  /** VFIO_GFX_PLANE_TYPE_PROBE for each kind */
  probe(): { dmabuf: boolean; region: boolean };
  /**
   * Shared mmap of `size` bytes (default: all) of region `index` at its device offset (any index the
   * driver answers, e.g. mdpy's 16). Writable when the region has the WRITE flag. Throws 'EINVAL'
   * (no region / no MMAP flag), 'ERANGE' (size), or the mmap errno.
   */
  mapRegion(index: number, size?: number): NativeMapping;
  /**
   * VFIO_DEVICE_GET_GFX_DMABUF(id) and a read-only mmap of the dma-buf; captures and reads of the
   * mapping are bracketed by DMA_BUF_IOCTL_SYNC START|READ … END|READ. The mapping owns the fd.
   * Throws: 'ENOENT' (id gone), 'EINVAL' "the exporter does not allow CPU mmap … (stock mbochs
   * exports read-only …)", 'ENODEV' "no CPU backing … (Intel GVT-g …)", or another errno.
   */
  getDmabuf(dmabufId: number): NativeMapping;
  /** pread / pwrite inside a region (bounds-checked against its size). One pwrite per call. */
  readRegion(index: number, offset: number, length: number): Buffer;
  writeRegion(index: number, offset: number, data: Uint8Array): void;
  /** Close every fd (idempotent). Mappings already made stay valid until closed themselves. */
  close(): void;
}

export interface NativeZStream {
  /**
   * Compress input and Z_SYNC_FLUSH; output continues one zlib stream (header first call only).
   * An empty input right after a flush yields an empty Buffer.
   */
  deflate(input: Uint8Array): Buffer;
  /**
   * deflate() off the JS thread (libuv pool; big inputs still use both cores). Keep `input`
   * unchanged until the promise settles. Calls on one stream must not overlap: while one is
   * running, deflate/deflateAsync/reset throw an Error with code 'EBUSY'. Rejects 'EZLIB'.
   */
  deflateAsync(input: Uint8Array): Promise<Buffer>;
  /** Throws 'EBUSY' while a deflateAsync (or native encode) on this stream is running. */
  reset(): void;
}

/**
 * A Tight filter job (rfbproto "Tight Encoding"): rows of `src` are `stride` bytes apart. Without
 * `format`, src is the canonical XRGB8888 surface and the output is 24-bit TPIXELs (R, G, B);
 * with it, src holds pixels already in that format (bitsPerPixel 8/16/32, maxes 2^n − 1) and the
 * output is in it too. Filter 0 copies; 2 is the gradient filter (each component minus
 * clamp(left + above − aboveleft, 0, max), modulo max + 1; outside the rect counts as 0).
 */
export interface TightFilterJob {
  src: Uint8Array;
  stride: number;
  x: number;
  y: number;
  w: number;
  h: number;
  filter: 0 | 2;
  format?: Pick<PixelFormat, 'bitsPerPixel' | 'bigEndian' | 'redMax' | 'greenMax' | 'blueMax' | 'redShift' | 'greenShift' | 'blueShift'>;
}

/** The canonical XRGB8888 surface (SurfaceView), tightly packed. */
export interface NativeSurfaceView {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

/** Rects and pixel formats are the protocol's own (only true colour is accepted natively). */
export type NativeRect = Rect;
export type NativePixelFormat = PixelFormat;

/** A tightDeflateAsync job: filter 3 lets the native side choose copy (0) or gradient (2). */
export type TightStreamJob = Omit<TightFilterJob, 'filter'> & { filter: 0 | 2 | 3 };

export interface NativeAddon {
  Mapping: new (path: string) => NativeMapping;
  /**
   * Convert the plane (any supported fourcc) into `surface` (XRGB8888, width×height×4,
   * tightly packed), comparing against what `surface` held: tiles that differ are dirty.
   * `full` marks every tile dirty (first frame, new mode). Runs off the JS thread.
   * Rejects with code 'EINVAL' for bad geometry (one-line message naming the field; checked
   * before any read), 'EBADF' for a closed mapping, 'SIGBUS' if the mapping vanished mid-read.
   * Limits: width/height 1..16384, width*Bpp <= stride <= 1 MiB, tileSize 8..256.
   * With `probe` (ignored when `full`): see CaptureProbe. With `sourceSigs`: see SourceSigs.
   */
  capture(mapping: NativeMapping, plane: PlaneGeometry, surface: Buffer, tileSize: number, full: boolean, probe?: CaptureProbe, history?: CaptureHistory, sourceSigs?: SourceSigs): Promise<CaptureResult>;
  /** Synchronous twin of capture() for tests and benchmarks. */
  captureSync(mapping: NativeMapping, plane: PlaneGeometry, surface: Buffer, tileSize: number, full: boolean, probe?: CaptureProbe, history?: CaptureHistory, sourceSigs?: SourceSigs): CaptureResult;
  /**
   * Gives the memory of an encoder's output Buffer (rawEncode, zrleEncode) back to the native
   * pool now, instead of when the GC collects it: its ArrayBuffer is detached, so every view of
   * it becomes empty. Only for output nothing reads any more (written to the socket). Any other
   * buffer is left alone. Returns whether it recycled.
   */
  recycleBuffer(buffer: Uint8Array): boolean;
  /** Plain memcpy of mapping bytes [offset, offset+length) into dst, for benchmarks (baseline). */
  memcpyBench(dst: Buffer, src: NativeMapping, offset: number, length: number): void;
  /** `parallelMinBytes`: inputs at least this big are deflated on both cores (default 128 KiB; Infinity: never). */
  ZStream: new (level: number, parallelMinBytes?: number) => NativeZStream;
  /**
   * Raw (0) encoding of `rects` (each inside the surface; empty ones write nothing) in the
   * client's pixel format (a valid true-colour PixelFormat), off the JS thread: one Buffer with
   * every rect's 12-byte header and pixels, in order. The surface must stay unchanged until the
   * promise settles. Rejects 'EINVAL' / 'ERANGE' for bad arguments.
   */
  rawEncode(surface: NativeSurfaceView, rects: readonly NativeRect[], pf: NativePixelFormat): Promise<Buffer>;
  /** rawEncode on the calling thread (small batches); throws instead of rejecting. */
  rawEncodeSync(surface: NativeSurfaceView, rects: readonly NativeRect[], pf: NativePixelFormat): Buffer;
  /**
   * ZRLE (16) encoding of `rects` through `stream` (the connection's one ZStream), off the JS
   * thread: one Buffer with every non-empty rect as header + u32 BE length + its sync-flushed
   * zlib chunk, in order. The stream is claimed until the promise settles (other calls on it
   * throw / reject 'EBUSY'); the surface must stay unchanged meanwhile.
   */
  zrleEncode(stream: NativeZStream, surface: NativeSurfaceView, rects: readonly NativeRect[], pf: NativePixelFormat): Promise<Buffer>;
  /** zrleEncode on the calling thread; throws instead of rejecting. */
  zrleEncodeSync(stream: NativeZStream, surface: NativeSurfaceView, rects: readonly NativeRect[], pf: NativePixelFormat): Buffer;
  /**
   * Legacy group path: /dev/vfio/vfio container (API version, TYPE1v2 or TYPE1), `groupPath`
   * (must be viable), SET_CONTAINER, SET_IOMMU, GROUP_GET_DEVICE_FD(deviceName = mdev UUID or PCI
   * address). Throws code 'EBUSY' when another process holds the group, 'ENOENT', 'EACCES', …
   */
  vfioOpenGroup(groupPath: string, deviceName: string): NativeVfioDevice;
  /** cdev path: opens iommuPath (default /dev/iommu) and the cdev, VFIO_DEVICE_BIND_IOMMUFD. 'ENOENT' without iommufd. */
  vfioOpenCdev(cdevPath: string, iommuPath?: string): NativeVfioDevice;
  /**
   * Adopts an open device fd (inherited, received, taken from a pid): checks it with
   * VFIO_DEVICE_GET_INFO. Takes ownership: the fd is closed on failure too. Throws 'ENOTTY' / 'EINVAL'
   * ("fd N is not a VFIO device (a regular file; …)", "… is a VFIO group, not a device"), 'EBADF'.
   */
  vfioDeviceFromFd(fd: number, description?: string): NativeVfioDevice;
  /**
   * Connects to the unix stream socket and receives one message carrying one fd (SCM_RIGHTS), off the
   * JS thread. Resolves to the new fd (close-on-exec; the caller owns it). Rejects 'ETIMEDOUT'
   * (default 5000 ms), 'EPROTO' (no fd in the message / closed), 'ENOENT' / 'ECONNREFUSED'.
   */
  vfioReceiveFd(socketPath: string, timeoutMs?: number): Promise<number>;
  /**
   * pidfd_open(pid) + pidfd_getfd(fd): a duplicate of another process's fd (the caller owns it).
   * Throws 'ESRCH' (no process), 'EPERM' (no ptrace rights), 'EBADF' (no such fd), 'ENOSYS'.
   */
  vfioTakeFdFromPid(pid: number, fd: number): number;
  /** Fourccs the converter knows. */
  supportedFourccs(): number[];
  /** Tight's copy (0) or gradient (2) filter of a rect, synchronously (see TightFilterJob). Throws RangeError code 'ERANGE' for a bad job. */
  tightFilter(job: TightFilterJob): Buffer;
  /**
   * Deflated / raw size (zlib level 1) of the job's filtered data in three ~2 KiB blocks of the
   * rect (top left, centre, bottom right): whether deflate pays, and which filter pays more.
   */
  tightSampleRatio(job: TightFilterJob): number;
  /**
   * One batch of a Tight zlib stream off the JS thread: the items (filter jobs, or bytes sent as
   * they are) through `stream` in order, one sync-flushed chunk each (big ones deflated on
   * both cores). A job here may have filter 3: copy or gradient, whichever a sample
   * (as tightSampleRatio) deflates smaller. The chunks are end to end in `data` (`sizes` long);
   * `filters` says which filter each job used (−1 for bytes).
   * Sources must stay unchanged until it settles; 'EBUSY' while another job holds the stream.
   */
  tightDeflateAsync(items: ReadonlyArray<TightStreamJob | Uint8Array>, stream: NativeZStream): Promise<{ data: Buffer; sizes: number[]; filters: number[] }>;
  /** Seconds for `runs` filter passes and for `runs` memcpys of the rect's source rows: [filter, memcpy, checksum]. */
  tightFilterBench(job: TightFilterJob, runs: number): [number, number, number];
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
