// A scripted VFIO display with a cursor plane, for cursor tests: a DMABUF primary plane (a known
// picture) and a cursor plane the test moves, reshapes, re-hotspots and disables. Its "dma-bufs"
// are real native mappings of files, so pixels go through the same read path as a device's.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, type NativeMapping, type NativeVfioDevice, type VfioPlaneError, type VfioPlaneInfo, type VfioPlaneKind, type VfioPlaneType, type VfioRegionInfo } from '../../src/native.js';

export const XRGB8888 = 0x34325258;
export const ARGB8888 = 0x34325241;
const PRIMARY_ID = 1;

export interface CursorPlaneSetting {
  width: number;
  height: number;
  /** packed B,G,R,A per pixel (premultiplied) */
  pixels: Buffer;
  x: number;
  y: number;
  /** 0xFFFFFFFF: none */
  hotX: number;
  hotY: number;
  /** a new id for each new image, as a guest flipping cursor buffers does */
  id: number;
}

export class CursorDevice implements NativeVfioDevice {
  readonly description = 'fake cursor device';
  readonly dir = mkdtempSync(join(tmpdir(), 'vgpu-cursor-'));
  cursor: CursorPlaneSetting | undefined;
  /** what a cursor query answers when set (e.g. mdpy's primary, an errno) */
  cursorOverride: VfioPlaneInfo | VfioPlaneError | undefined;
  cursorQueries = 0;

  constructor(readonly width: number, readonly height: number, readonly primary: Buffer) {
    writeFileSync(join(this.dir, `buf${PRIMARY_ID}`), primary);
  }

  /** Shows `c` (writes its image as dma-buf `c.id`). */
  setCursor(c: CursorPlaneSetting | undefined): void {
    if (c) {
      const path = join(this.dir, `buf${c.id}`);
      // Same size: rewrite in place (no truncation under a live mapping).
      const fd = openSync(path, 'a+');
      closeSync(fd);
      const w = openSync(path, 'r+');
      writeSync(w, c.pixels, 0, c.pixels.length, 0);
      closeSync(w);
    }
    this.cursor = c;
  }

  info() {
    return { flags: 2, numRegions: 9, numIrqs: 0 };
  }
  regionInfo(): VfioRegionInfo | undefined {
    return undefined;
  }
  probe() {
    return { dmabuf: true, region: false };
  }
  queryPlane(type: VfioPlaneType, _kind: VfioPlaneKind): VfioPlaneInfo | VfioPlaneError {
    const base = { ok: true as const, modifier: 0n, xPos: 0, yPos: 0, xHot: 0, yHot: 0 };
    if (type === 'primary') {
      return { ...base, drmFormat: XRGB8888, width: this.width, height: this.height, stride: this.width * 4, size: this.primary.length, dmabufId: PRIMARY_ID };
    }
    this.cursorQueries++;
    if (this.cursorOverride) return this.cursorOverride;
    const c = this.cursor;
    if (!c) return { ...base, drmFormat: 0, width: 0, height: 0, stride: 0, size: 0, dmabufId: 0 };
    return {
      ...base,
      drmFormat: ARGB8888,
      width: c.width,
      height: c.height,
      stride: c.width * 4,
      size: c.pixels.length,
      xPos: c.x >>> 0,
      yPos: c.y >>> 0,
      xHot: c.hotX,
      yHot: c.hotY,
      dmabufId: c.id,
    };
  }
  mapRegion(): NativeMapping {
    throw Object.assign(new Error('no regions'), { code: 'EINVAL' });
  }
  getDmabuf(id: number): NativeMapping {
    return new native.Mapping(join(this.dir, `buf${id}`));
  }
  readRegion(): Buffer {
    throw Object.assign(new Error('no regions'), { code: 'EINVAL' });
  }
  writeRegion(): void {
    throw Object.assign(new Error('no regions'), { code: 'EINVAL' });
  }
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A w×h cursor image: an opaque arrow-ish shape of `rgb` with a fully transparent rest (alpha 0 or 255 only). */
export function opaqueCursor(w: number, h: number, rgb: number): Buffer {
  const b = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      if (x > y) continue; // lower-left triangle
      const o = (y * w + x) * 4;
      b[o] = rgb & 0xff;
      b[o + 1] = (rgb >> 8) & 0xff;
      b[o + 2] = (rgb >> 16) & 0xff;
      b[o + 3] = 255;
    }
  return b;
}
