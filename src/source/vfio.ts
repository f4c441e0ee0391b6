// The vfio source: polls a VFIO display's primary plane (VFIO_DEVICE_QUERY_GFX_PLANE) each tick
// and hands the surface a mapping of its pixels — the region mmapped once (remapped when its
// index or size changes), or the dma-buf (kept in a small cache keyed by id and geometry).
// The guest is untrusted: every field is checked here (REFERENCE.md §7) and again natively.
// Nothing the device does throws out of nextFrame(): it becomes the last good frame or a
// "no signal" reason, each distinct problem logged once.
import type { NativeMapping, NativeVfioDevice, PlaneGeometry, VfioPlaneInfo, VfioPlaneKind } from '../native.js';
import { bytesPerPixel, describeFourcc, fourccName } from '../surface/fourcc.js';
import type { Frame, FrameSource, Logger } from './types.js';
import { writeEdid } from './vfio-edid.js';
import { openVfioDevice, type VfioDeviceSpec } from './vfio-open.js';
import { ReattachingDevice, type ReattachOptions } from './vfio-reattach.js';
import { VfioCursorReader, type CursorSource } from './cursor.js';
import type { CursorState } from '../server/display.js';

export const MAX_DIMENSION = 16384;
/** The native capture refuses larger strides. */
export const MAX_STRIDE = 1 << 20;

export const Modifier = {
  LINEAR: 0n,
  I915_X_TILED: 0x0100000000000001n,
  I915_Y_TILED: 0x0100000000000002n,
  I915_YF_TILED: 0x0100000000000003n,
} as const;

/** Tile width in bytes and height in rows for the modifiers the capture de-tiles. */
const TILES = new Map<bigint, { name: string; widthBytes: number; rows: number }>([
  [Modifier.I915_X_TILED, { name: 'I915 X-tiled', widthBytes: 512, rows: 8 }],
  [Modifier.I915_Y_TILED, { name: 'I915 Y-tiled', widthBytes: 128, rows: 32 }],
]);

export type PlaneCheck =
  /** extent: bytes from the start of the buffer the pixels need */
  | { ok: true; plane: PlaneGeometry; extent: number }
  /** problem: a key for log de-duplication; reason: the words */
  | { ok: false; problem: string; reason: string };

/** Checks a queried plane on its own (the mapping is checked once known). All values are u32: sums stay exact. */
export function validateVfioPlane(p: VfioPlaneInfo): PlaneCheck {
  const bad = (problem: string, reason: string): PlaneCheck => ({ ok: false, problem, reason });
  const bpp = bytesPerPixel(p.drmFormat);
  if (bpp === undefined) return bad('format', `the guest's pixel format ${describeFourcc(p.drmFormat)} is not supported`);
  let tile: { name: string; widthBytes: number; rows: number } | undefined;
  if (p.modifier !== Modifier.LINEAR) {
    tile = TILES.get(p.modifier);
    if (!tile) {
      const hex = `0x${p.modifier.toString(16).padStart(16, '0')}`;
      const what = p.modifier === Modifier.I915_YF_TILED ? 'I915 Yf tiling (' + hex + ') cannot be de-tiled here' : `format modifier ${hex} is not supported (linear, I915 X and Y tiling only)`;
      return bad('modifier', `the guest's plane uses ${what}`);
    }
  }
  if (p.width < 1 || p.width > MAX_DIMENSION) return bad('width', `plane width ${p.width} is outside 1..${MAX_DIMENSION}`);
  if (p.height < 1 || p.height > MAX_DIMENSION) return bad('height', `plane height ${p.height} is outside 1..${MAX_DIMENSION}`);
  if (p.stride < p.width * bpp) return bad('stride', `plane stride ${p.stride} is less than width ${p.width} × ${bpp} bytes per pixel`);
  if (p.stride > MAX_STRIDE) return bad('stride', `plane stride ${p.stride} is larger than ${MAX_STRIDE}`);
  let extent: number;
  if (tile) {
    if (p.stride % tile.widthBytes !== 0) return bad('stride', `plane stride ${p.stride} is not a multiple of the ${tile.name} tile width ${tile.widthBytes}`);
    extent = p.stride * Math.ceil(p.height / tile.rows) * tile.rows;
  } else {
    extent = p.stride * (p.height - 1) + p.width * bpp;
  }
  if (extent > p.size) {
    return bad('size', `plane size ${p.size} is smaller than its pixels (${p.width}x${p.height}, stride ${p.stride}${tile ? `, ${tile.name}` : ''}: ${extent} bytes)`);
  }
  const plane: PlaneGeometry = { fourcc: p.drmFormat, width: p.width, height: p.height, stride: p.stride, offset: 0 };
  if (tile) plane.modifier = p.modifier;
  return { ok: true, plane, extent };
}

export function describeVfioPlane(p: VfioPlaneInfo): string {
  const tile = TILES.get(p.modifier);
  const where = p.regionIndex !== undefined ? `region ${p.regionIndex}` : `dma-buf ${p.dmabufId}`;
  return `${p.width}x${p.height} ${fourccName(p.drmFormat) ?? describeFourcc(p.drmFormat)} stride ${p.stride} size ${p.size}${tile ? ` ${tile.name}` : ''} (${where})`;
}

export interface VfioSourceOptions {
  log?: Logger;
  /** plane kind to query; 'auto' (default) probes DMABUF, then REGION */
  kind?: 'auto' | VfioPlaneKind;
  /** dma-buf mappings kept open (default 4: a guest flipping between a few buffers reuses them) */
  dmabufCacheSize?: number;
  /** close the device with the source (default true) */
  closeDevice?: boolean;
  /**
   * How the device was opened. With it the source notices the device going away (removed, or
   * the VMM released it), releases it at once and opens the spec again when it comes back
   * (vfio-reattach.ts); the source then owns every device it holds.
   */
  spec?: VfioDeviceSpec;
  /** presence check / retry periods and test roots for `spec` */
  reattach?: Omit<ReattachOptions, 'log' | 'onLost'>;
}

interface CachedDmabuf {
  key: string;
  mapping: NativeMapping;
}

/** Transient query answers: the driver is busy (mbochs answers ENOMEM to the first query after a mode change). */
const TRANSIENT = new Set(['ENOMEM', 'EAGAIN', 'EINTR', 'EBUSY']);

export class VfioSource implements FrameSource, CursorSource {
  private readonly log: Logger;
  private readonly cacheSize: number;
  private readonly closeDevice: boolean;
  private kind: VfioPlaneKind | undefined;
  private regionMapping: { index: number; size: number; mapping: NativeMapping } | undefined;
  private dmabufs: CachedDmabuf[] = [];
  /** A dma-buf that could not be mapped, with the reason: not retried until the plane changes. */
  private failedDmabuf: { key: string; reason: string; problem: string } | undefined;
  private lastGood: { mapping: NativeMapping; plane: PlaneGeometry } | undefined;
  private lastLoggedPlane: string | undefined;
  private condition: string | undefined;
  private closed = false;
  private cursorReader: VfioCursorReader | undefined;
  /** 'region N' / 'dmabuf N' of the last primary plane (a cursor query answering the same is no cursor). */
  private primaryIdentity: string | undefined;
  /** the device, or (with options.spec) a stand-in that follows it across removal and return */
  readonly device: NativeVfioDevice;
  private readonly reattaching: ReattachingDevice | undefined;
  private readonly requestedKind: VfioPlaneKind | undefined;
  private generation = 0;

  constructor(device: NativeVfioDevice, options: VfioSourceOptions = {}) {
    this.log = options.log ?? (() => {});
    this.cacheSize = Math.max(1, options.dmabufCacheSize ?? 4);
    this.closeDevice = options.closeDevice ?? true;
    if (options.kind && options.kind !== 'auto') this.kind = this.requestedKind = options.kind;
    this.reattaching = options.spec ? new ReattachingDevice(device, options.spec, { ...options.reattach, log: this.log, onLost: () => this.releaseDevice() }) : undefined;
    this.device = this.reattaching ?? device;
  }

  /** 'vfio ' + the device's description (the device now, after a re-attach) */
  get description(): string {
    return `vfio ${this.device.description}`;
  }

  /** The plane kind in use ('dmabuf' or 'region'), once probed. */
  get planeKind(): VfioPlaneKind | undefined {
    return this.kind;
  }

  async nextFrame(): Promise<Frame> {
    if (this.closed) return { kind: 'no-signal', reason: 'source closed' };
    try {
      return this.tick();
    } catch (err) {
      // Only a bug or a vanished device gets here (queryPlane does not throw).
      return this.failure('error', `unexpected error: ${(err as Error)?.message ?? String(err)}`, false);
    }
  }

  /** The guest's cursor plane now (see cursor.ts); undefined when the device has none. Call after nextFrame(). */
  readCursor(): CursorState | undefined {
    if (this.closed || !this.kind || this.reattaching?.lost !== undefined) return undefined;
    this.cursorReader ??= new VfioCursorReader(this.device, this.kind, this.log, () => this.primaryIdentity);
    try {
      return this.cursorReader.read();
    } catch (err) {
      this.log(`${this.description}: cursor: unexpected error: ${(err as Error).message}`);
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.releaseDevice();
    if (this.closeDevice || this.reattaching) this.device.close();
  }

  /** Drops everything mapped from the device (each mapping holds the device file open). */
  private releaseDevice(): void {
    this.cursorReader?.close();
    this.cursorReader = undefined;
    this.dropRegion();
    for (const d of this.dmabufs) d.mapping.close();
    this.dmabufs = [];
    this.lastGood = undefined;
    this.failedDmabuf = undefined;
  }

  private tick(): Frame {
    if (this.reattaching) {
      const lost = this.reattaching.lost; // checked on the device's own timer, not per frame
      if (lost !== undefined) return this.failure('lost', lost, false);
      if (this.reattaching.generation !== this.generation) {
        // Another device (or the same one re-created): learn it from scratch.
        this.generation = this.reattaching.generation;
        this.releaseDevice();
        this.kind = this.requestedKind;
        this.primaryIdentity = undefined;
        this.lastLoggedPlane = undefined;
      }
    }
    if (!this.kind) {
      const support = this.device.probe();
      this.kind = support.dmabuf ? 'dmabuf' : support.region ? 'region' : undefined;
      if (!this.kind) {
        return this.failure('no-display', 'the device has no display (the plane probe refuses both DMABUF and REGION)', false);
      }
      this.log(`${this.description}: ${this.kind === 'dmabuf' ? 'dma-buf' : 'region'} display`);
    }
    const answer = this.device.queryPlane('primary', this.kind);
    if (!answer.ok) {
      if (TRANSIENT.has(answer.code)) {
        return this.failure(`transient-${answer.code}`, `the device is busy (${answer.code}), retrying`, true);
      }
      return this.failure(`query-${answer.code}`, `cannot query the guest's plane: ${answer.message}`, false);
    }
    if (answer.drmFormat === 0) return this.failure('disabled', 'guest is not scanning out', false);
    this.primaryIdentity = answer.regionIndex !== undefined ? `region ${answer.regionIndex}` : `dmabuf ${answer.dmabufId}`;
    const check = validateVfioPlane(answer);
    if (!check.ok) return this.failure(check.problem, check.reason, false);
    const mapped = this.kind === 'region' ? this.regionFor(answer) : this.dmabufFor(answer);
    if ('problem' in mapped) return this.failure(mapped.problem, mapped.reason, mapped.transient ?? false);
    if (check.extent > mapped.mapping.size) {
      return this.failure(
        'extent',
        `the plane's pixels (${check.extent} bytes) extend past the ${mapped.mapping.size}-byte ${this.kind === 'region' ? 'region mapping' : 'dma-buf'}`,
        false,
      );
    }
    const described = describeVfioPlane(answer);
    if (described !== this.lastLoggedPlane) {
      this.log(`${this.description}: ${described}`);
      this.lastLoggedPlane = described;
    }
    if (this.condition !== 'ok' && this.condition !== undefined) this.log(`${this.description}: picture back`);
    this.condition = 'ok';
    this.lastGood = { mapping: mapped.mapping, plane: check.plane };
    return { kind: 'plane', mapping: mapped.mapping, plane: check.plane };
  }

  private regionFor(p: VfioPlaneInfo): { mapping: NativeMapping } | { problem: string; reason: string; transient?: boolean } {
    const index = p.regionIndex!;
    const r = this.regionMapping;
    if (r && r.index === index && r.size === p.size) return { mapping: r.mapping };
    this.dropRegion();
    let region;
    try {
      region = this.device.regionInfo(index);
    } catch (err) {
      return { problem: 'region-info', reason: `cannot read region ${index}: ${(err as Error).message}` };
    }
    if (!region) return { problem: 'region-index', reason: `the plane names region ${index}, which the device does not have` };
    if (p.size > region.size) {
      return { problem: 'region-size', reason: `the plane size ${p.size} exceeds region ${index}'s size ${region.size}` };
    }
    try {
      const mapping = this.device.mapRegion(index, p.size);
      this.regionMapping = { index, size: p.size, mapping };
      return { mapping };
    } catch (err) {
      return { problem: 'region-map', reason: `cannot map region ${index}: ${(err as Error).message}` };
    }
  }

  private dmabufFor(p: VfioPlaneInfo): { mapping: NativeMapping } | { problem: string; reason: string; transient?: boolean } {
    // The id alone is not enough: a guest may reuse an id with a new geometry (REFERENCE.md §7).
    const key = `${p.dmabufId}:${p.drmFormat}:${p.width}x${p.height}:${p.stride}:${p.size}:${p.modifier}`;
    const hit = this.dmabufs.findIndex((d) => d.key === key);
    if (hit >= 0) {
      const [entry] = this.dmabufs.splice(hit, 1);
      this.dmabufs.unshift(entry); // most recently used first
      return { mapping: entry.mapping };
    }
    if (this.failedDmabuf?.key === key) return { problem: this.failedDmabuf.problem, reason: this.failedDmabuf.reason };
    // Another buffer with the same id but different geometry is stale now.
    const stale = this.dmabufs.filter((d) => d.key.startsWith(`${p.dmabufId}:`));
    for (const d of stale) this.evict(d);
    let mapping: NativeMapping;
    try {
      mapping = this.device.getDmabuf(p.dmabufId!);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      const reason = (err as Error).message;
      if (code === 'ENOENT' || TRANSIENT.has(code)) return { problem: `dmabuf-${code}`, reason, transient: true };
      this.failedDmabuf = { key, reason, problem: `dmabuf-${code}` };
      return this.failedDmabuf;
    }
    this.failedDmabuf = undefined;
    this.dmabufs.unshift({ key, mapping });
    while (this.dmabufs.length > this.cacheSize) this.evict(this.dmabufs[this.dmabufs.length - 1]);
    return { mapping };
  }

  private evict(entry: CachedDmabuf): void {
    this.dmabufs = this.dmabufs.filter((d) => d !== entry);
    if (this.lastGood?.mapping === entry.mapping) this.lastGood = undefined;
    entry.mapping.close(); // deferred natively while a capture still reads it
  }

  private dropRegion(): void {
    if (!this.regionMapping) return;
    if (this.lastGood?.mapping === this.regionMapping.mapping) this.lastGood = undefined;
    this.regionMapping.mapping.close();
    this.regionMapping = undefined;
  }

  /** Logs the problem if it is new; returns the last good frame (when allowed and still mapped) or no-signal. */
  private failure(problem: string, reason: string, useLastGood: boolean): Frame {
    const showLast = useLastGood && this.lastGood !== undefined;
    if (this.condition !== problem) {
      this.log(`${this.description}: ${reason}; ${showLast ? 'showing the last good frame' : 'no signal'}`);
      this.condition = problem;
    }
    if (showLast) return { kind: 'plane', mapping: this.lastGood!.mapping, plane: this.lastGood!.plane };
    return { kind: 'no-signal', reason };
  }
}

export interface OpenVfioSourceOptions extends VfioSourceOptions {
  /** --resolution: write an EDID preferring this mode first (where the device has an EDID region) */
  resolution?: { width: number; height: number };
}

export interface OpenedVfioSource {
  source: VfioSource;
  /** desktop name for clients, e.g. 'vgpu-vnc /dev/vfio/0 device <uuid>' */
  name: string;
  stop(): Promise<void>;
}

/**
 * Opens the device a spec names (see VfioDeviceSpec), writes the EDID for `resolution` if asked,
 * and wraps it in a VfioSource. Throws VfioOpenError (code + one-line message) when the device
 * cannot be opened; an EDID that cannot be written is logged, not fatal.
 */
export async function openVfioSource(spec: VfioDeviceSpec, opts: OpenVfioSourceOptions = {}): Promise<OpenedVfioSource> {
  const log = opts.log ?? (() => {});
  const device = await openVfioDevice(spec, { log });
  const applyResolution = async (d: NativeVfioDevice): Promise<void> => {
    if (!opts.resolution) return;
    const { width, height } = opts.resolution;
    try {
      const r = await writeEdid(d, width, height);
      log(`vfio: EDID for ${r.width}x${r.height} written${r.clamped ? ` (asked ${width}x${height}; the device allows at most that)` : ''}`);
    } catch (err) {
      log(`vfio: --resolution ${width}x${height} not applied: ${(err as Error).message}`);
    }
  };
  await applyResolution(device);
  // A device that comes back (vfio-reattach.ts) gets the same EDID.
  const source = new VfioSource(device, { ...opts, spec, reattach: { ...opts.reattach, onAttached: (d) => void applyResolution(d) } });
  return { source, name: `vgpu-vnc ${device.description}`, stop: () => source.close() };
}
