// The guest's cursor plane (VFIO_DEVICE_QUERY_GFX_PLANE with drm_plane_type CURSOR), read each
// tick: an ARGB image through the same dma-buf / region mapping path as the primary plane, its
// position (x_pos, y_pos: top-left of the image) and hotspot (0xFFFFFFFF = none). The guest is
// untrusted: sizes and formats are checked, and a driver that answers a cursor query with its
// primary plane (mdpy ignores the plane type) is recognised as having no cursor.
import type { NativeMapping, NativeVfioDevice, VfioPlaneInfo, VfioPlaneKind } from '../native.js';
import type { CursorImage, CursorState } from '../server/display.js';
import { describeFourcc, Fourcc } from '../surface/fourcc.js';
import type { Logger } from './types.js';

/** Larger "cursors" are not cursors (DRM drivers allow up to 256x256). */
export const MAX_CURSOR_SIZE = 256;
export const NO_HOTSPOT = 0xffffffff;

/** A source that can report the guest's cursor each tick. */
export interface CursorSource {
  /** undefined: no cursor plane (the display then has no cursor); otherwise the cursor now. */
  readCursor(): CursorState | undefined;
}

export function hasCursor(source: object): source is CursorSource {
  return typeof (source as Partial<CursorSource>).readCursor === 'function';
}

const HIDDEN: CursorState = Object.freeze({ image: undefined, x: 0, y: 0 });

/** Signed view of a u32 position (a cursor partly off the top/left edge has negative x/y). */
function signed(v: number): number {
  return v | 0;
}

export class VfioCursorReader {
  private mapping: { key: string; mapping: NativeMapping } | undefined;
  /** Set once the device shows it has no usable cursor plane; no more queries then. */
  private unsupported = false;
  private lastProblem: string | undefined;
  private last: CursorState | undefined;
  /**
   * Whether the plane was ever enabled. Until then "disabled" means "no cursor known" (mbochs
   * answers every cursor query with a disabled plane): clients keep their own pointer rather than
   * being sent an invisible one.
   */
  private everShown = false;

  constructor(
    private readonly device: NativeVfioDevice,
    private readonly kind: VfioPlaneKind,
    private readonly log: Logger,
    /** Identity of the primary plane's buffer ('region 16', 'dmabuf 3'), to spot drivers that ignore the plane type. */
    private readonly primaryIdentity: () => string | undefined,
  ) {}

  read(): CursorState | undefined {
    if (this.unsupported) return undefined;
    const p = this.device.queryPlane('cursor', this.kind);
    if (!p.ok) {
      // EINVAL/ENOTTY: the driver has no cursor plane. Anything else: keep the last answer.
      if (p.code === 'EINVAL' || p.code === 'ENOTTY' || p.code === 'ENODEV') return this.giveUp(`the device has no cursor plane (${p.code})`);
      return this.last;
    }
    if (p.drmFormat === 0) return this.everShown ? this.keep(HIDDEN) : undefined;
    const identity = p.regionIndex !== undefined ? `region ${p.regionIndex}` : `dmabuf ${p.dmabufId}`;
    if (identity === this.primaryIdentity()) return this.giveUp('the cursor query answers with the primary plane (the driver ignores the plane type): no cursor plane');
    if (p.width > MAX_CURSOR_SIZE || p.height > MAX_CURSOR_SIZE)
      return this.giveUp(`the cursor query answers with a ${p.width}x${p.height} plane, too large for a cursor (the driver ignores the plane type?): no cursor plane`);
    const problem = checkCursorPlane(p);
    if (problem) return this.problem(problem);
    const mapping = this.mappingFor(p);
    if (typeof mapping === 'string') return this.problem(mapping);
    const bytes = p.stride * (p.height - 1) + p.width * 4;
    if (bytes > mapping.size) return this.problem(`cursor plane needs ${bytes} bytes, its buffer has ${mapping.size}`);
    let raw: Buffer;
    try {
      raw = mapping.read(0, bytes);
    } catch (err) {
      this.dropMapping();
      return this.problem(`cannot read the cursor image: ${(err as Error).message}`);
    }
    const pixels = Buffer.alloc(p.width * p.height * 4);
    for (let y = 0; y < p.height; y++) raw.copy(pixels, y * p.width * 4, y * p.stride, y * p.stride + p.width * 4);
    if (p.drmFormat === Fourcc.ABGR8888) {
      for (let i = 0; i < pixels.length; i += 4) {
        const r = pixels[i]!;
        pixels[i] = pixels[i + 2]!;
        pixels[i + 2] = r;
      }
    }
    const hot = p.xHot === NO_HOTSPOT || p.yHot === NO_HOTSPOT ? { x: 0, y: 0 } : { x: Math.min(p.xHot, p.width - 1), y: Math.min(p.yHot, p.height - 1) };
    const image: CursorImage = { width: p.width, height: p.height, hotX: hot.x, hotY: hot.y, pixels };
    this.everShown = true;
    if (this.lastProblem !== undefined) {
      this.log(`cursor: plane back (${p.width}x${p.height})`);
      this.lastProblem = undefined;
    }
    return this.keep({ image, x: signed(p.xPos), y: signed(p.yPos) });
  }

  close(): void {
    this.dropMapping();
  }

  private keep(state: CursorState): CursorState {
    this.last = state;
    return state;
  }

  private giveUp(reason: string): undefined {
    this.unsupported = true;
    this.log(`cursor: ${reason}`);
    this.close();
    this.last = undefined;
    return undefined;
  }

  /** A bad cursor plane hides the cursor (logged once per problem); the picture goes on. */
  private problem(reason: string): CursorState | undefined {
    if (reason !== this.lastProblem) {
      this.log(`cursor: ${reason}; cursor ${this.everShown ? 'hidden' : 'not shown'}`);
      this.lastProblem = reason;
    }
    return this.everShown ? this.keep(HIDDEN) : undefined;
  }

  private mappingFor(p: VfioPlaneInfo): NativeMapping | string {
    const key = `${p.regionIndex}:${p.dmabufId}:${p.width}x${p.height}:${p.stride}:${p.size}`;
    if (this.mapping?.key === key) return this.mapping.mapping;
    this.dropMapping();
    try {
      const mapping = p.regionIndex !== undefined ? this.device.mapRegion(p.regionIndex, p.size) : this.device.getDmabuf(p.dmabufId!);
      this.mapping = { key, mapping };
      return mapping;
    } catch (err) {
      return `cannot map the cursor plane: ${(err as Error).message}`;
    }
  }

  private dropMapping(): void {
    this.mapping?.mapping.close();
    this.mapping = undefined;
  }
}

/** Why a queried cursor plane cannot be shown, or undefined. */
export function checkCursorPlane(p: VfioPlaneInfo): string | undefined {
  if (p.drmFormat !== Fourcc.ARGB8888 && p.drmFormat !== Fourcc.ABGR8888)
    return `cursor format ${describeFourcc(p.drmFormat)} is not supported (ARGB8888 / ABGR8888)`;
  if (p.modifier !== 0n) return `cursor plane is tiled (modifier 0x${p.modifier.toString(16)})`;
  if (p.width < 1 || p.height < 1 || p.width > MAX_CURSOR_SIZE || p.height > MAX_CURSOR_SIZE)
    return `cursor size ${p.width}x${p.height} is outside 1..${MAX_CURSOR_SIZE}`;
  if (p.stride < p.width * 4 || p.stride > MAX_CURSOR_SIZE * 16) return `cursor stride ${p.stride} does not fit width ${p.width}`;
  return undefined;
}

/** Whether two cursor states differ in shape (image or hotspot) and in anything at all. */
export function compareCursor(a: CursorState | undefined, b: CursorState | undefined): { changed: boolean; shapeChanged: boolean } {
  const ia = a?.image, ib = b?.image;
  const shapeChanged =
    (a === undefined) !== (b === undefined) ||
    (ia === undefined) !== (ib === undefined) ||
    (!!ia && !!ib && (ia.width !== ib.width || ia.height !== ib.height || ia.hotX !== ib.hotX || ia.hotY !== ib.hotY || !ia.pixels.equals(ib.pixels)));
  const moved = !!ia && !!ib && (a!.x !== b!.x || a!.y !== b!.y);
  return { changed: shapeChanged || moved, shapeChanged };
}
