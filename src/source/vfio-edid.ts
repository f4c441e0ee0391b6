// EDID for a VFIO display's GFX/EDID region (REFERENCE.md §1): an EDID 1.3 base block whose
// preferred (first detailed) timing is WxH, written with the link-down / blob / size / link-up
// protocol so the guest re-reads it and can pick that mode.
import type { NativeVfioDevice } from '../native.js';

export const EDID_SIZE = 128;
/** A detailed timing descriptor holds 12-bit sizes. */
export const EDID_MAX_DIMENSION = 4095;
export const EDID_MIN_DIMENSION = 64;

const VFIO_REGION_TYPE_GFX = 1;
const VFIO_REGION_SUBTYPE_GFX_EDID = 1;
const LINK_UP = 1;
const LINK_DOWN = 2;

/** struct vfio_region_gfx_edid: six u32 */
export const EdidReg = { edidOffset: 0, edidMaxSize: 4, edidSize: 8, maxXres: 12, maxYres: 16, linkState: 20 } as const;

export interface EdidRegs {
  edidOffset: number;
  edidMaxSize: number;
  edidSize: number;
  maxXres: number;
  maxYres: number;
  linkState: number;
}

/** Why WxH cannot be an EDID 1.3 preferred mode, or undefined when it can. */
export function edidResolutionProblem(width: number, height: number): string | undefined {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < EDID_MIN_DIMENSION || v > EDID_MAX_DIMENSION) {
      return `${name} ${v} is outside ${EDID_MIN_DIMENSION}..${EDID_MAX_DIMENSION} (an EDID detailed timing holds 12 bits)`;
    }
  }
  return undefined;
}

// Blanking close to CVT reduced blanking: fixed porches, refresh lowered only if the pixel clock
// would not fit the descriptor's 16-bit 10 kHz field.
const H_FRONT = 48, H_SYNC = 32, H_BACK = 80;
const V_FRONT = 3, V_SYNC = 5, V_BACK = 23;

export interface EdidOptions {
  refreshHz?: number;
  /** monitor name, at most 13 ASCII characters */
  name?: string;
}

/** Builds the 128-byte EDID 1.3 block. Throws RangeError for sizes edidResolutionProblem() refuses. */
export function buildEdid(width: number, height: number, opts: EdidOptions = {}): Buffer {
  const problem = edidResolutionProblem(width, height);
  if (problem) throw new RangeError(problem);
  const e = Buffer.alloc(EDID_SIZE);
  Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]).copy(e, 0);
  // Manufacturer 'VNC' as three 5-bit letters (A = 1), big-endian.
  const letter = (c: string): number => c.charCodeAt(0) - 64;
  e.writeUInt16BE((letter('V') << 10) | (letter('N') << 5) | letter('C'), 8);
  e.writeUInt16LE(0x0001, 10); // product code
  e.writeUInt32LE(0, 12); // serial
  e[16] = 1; // week
  e[17] = 2024 - 1990; // year
  e[18] = 1; // EDID 1.3
  e[19] = 3;
  e[20] = 0x80; // digital input
  // Physical size in cm at 96 dpi.
  const mmW = Math.round((width * 25.4) / 96), mmH = Math.round((height * 25.4) / 96);
  e[21] = Math.min(255, Math.max(1, Math.round(mmW / 10)));
  e[22] = Math.min(255, Math.max(1, Math.round(mmH / 10)));
  e[23] = 120; // gamma 2.2
  e[24] = 0x0a; // RGB colour display, preferred timing is the first detailed timing
  writeChromaticity(e);
  e[35] = 0x21; // established: 640x480@60, 800x600@60
  e[36] = 0x08; // 1024x768@60
  e[37] = 0x00;
  for (let i = 38; i < 54; i++) e[i] = 0x01; // no standard timings

  const hTotal = width + H_FRONT + H_SYNC + H_BACK;
  const vTotal = height + V_FRONT + V_SYNC + V_BACK;
  const maxRefresh = Math.floor((0xffff * 10_000) / (hTotal * vTotal));
  const refresh = Math.max(1, Math.min(opts.refreshHz ?? 60, maxRefresh));
  const clock10k = Math.min(0xffff, Math.ceil((hTotal * vTotal * refresh) / 10_000));
  writeDetailedTiming(e, 54, { width, height, clock10k, mmW, mmH });

  const name = (opts.name ?? 'vgpu-vnc').slice(0, 13);
  writeTextDescriptor(e, 72, 0xfc, name);
  // Range limits wide enough for the preferred timing.
  const hKHz = Math.ceil((clock10k * 10) / hTotal);
  const r = 90;
  e.set([0, 0, 0, 0xfd, 0], r);
  e[r + 5] = Math.min(refresh, 50);
  e[r + 6] = Math.max(refresh, 75);
  e[r + 7] = Math.min(30, hKHz);
  e[r + 8] = Math.min(255, Math.max(hKHz + 1, 90));
  e[r + 9] = Math.min(255, Math.ceil(clock10k / 1000) + 1); // max pixel clock, 10 MHz units
  e.set([0x00, 0x0a, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20], r + 10);
  e.set([0, 0, 0, 0x10, 0], 108); // dummy descriptor
  e[126] = 0; // no extensions
  let sum = 0;
  for (let i = 0; i < 127; i++) sum += e[i];
  e[127] = (256 - (sum & 0xff)) & 0xff;
  return e;
}

function writeChromaticity(e: Buffer): void {
  // sRGB primaries and D65 white, 10-bit binary fractions.
  const v = [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329].map((x) => Math.round(x * 1024));
  const [rx, ry, gx, gy, bx, by, wx, wy] = v;
  e[25] = ((rx & 3) << 6) | ((ry & 3) << 4) | ((gx & 3) << 2) | (gy & 3);
  e[26] = ((bx & 3) << 6) | ((by & 3) << 4) | ((wx & 3) << 2) | (wy & 3);
  v.forEach((x, i) => (e[27 + i] = x >> 2));
}

function writeDetailedTiming(
  e: Buffer,
  at: number,
  t: { width: number; height: number; clock10k: number; mmW: number; mmH: number },
): void {
  const hBlank = H_FRONT + H_SYNC + H_BACK, vBlank = V_FRONT + V_SYNC + V_BACK;
  e.writeUInt16LE(t.clock10k, at);
  e[at + 2] = t.width & 0xff;
  e[at + 3] = hBlank & 0xff;
  e[at + 4] = ((t.width >> 8) << 4) | (hBlank >> 8);
  e[at + 5] = t.height & 0xff;
  e[at + 6] = vBlank & 0xff;
  e[at + 7] = ((t.height >> 8) << 4) | (vBlank >> 8);
  e[at + 8] = H_FRONT & 0xff;
  e[at + 9] = H_SYNC & 0xff;
  e[at + 10] = ((V_FRONT & 0xf) << 4) | (V_SYNC & 0xf);
  e[at + 11] = ((H_FRONT >> 8) << 6) | ((H_SYNC >> 8) << 4) | ((V_FRONT >> 4) << 2) | (V_SYNC >> 4);
  const mmW = Math.min(4095, t.mmW), mmH = Math.min(4095, t.mmH);
  e[at + 12] = mmW & 0xff;
  e[at + 13] = mmH & 0xff;
  e[at + 14] = ((mmW >> 8) << 4) | (mmH >> 8);
  e[at + 15] = 0;
  e[at + 16] = 0;
  e[at + 17] = 0x1e; // digital separate sync, +hsync +vsync
}

function writeTextDescriptor(e: Buffer, at: number, tag: number, text: string): void {
  e.set([0, 0, 0, tag, 0], at);
  const bytes = Buffer.alloc(13, 0x20);
  Buffer.from(text, 'ascii').copy(bytes);
  if (text.length < 13) bytes[text.length] = 0x0a;
  bytes.copy(e, at + 5);
}

/** Index of the region with capability GFX / EDID, or undefined. */
export function findEdidRegion(device: NativeVfioDevice): number | undefined {
  const { numRegions } = device.info();
  for (let index = 0; index < Math.min(numRegions, 64); index++) {
    const region = device.regionInfo(index);
    if (region?.caps.some((c) => c.type === VFIO_REGION_TYPE_GFX && c.subtype === VFIO_REGION_SUBTYPE_GFX_EDID)) return index;
  }
  return undefined;
}

export function readEdidRegs(device: NativeVfioDevice, index: number): EdidRegs {
  const b = device.readRegion(index, 0, 24);
  return {
    edidOffset: b.readUInt32LE(EdidReg.edidOffset),
    edidMaxSize: b.readUInt32LE(EdidReg.edidMaxSize),
    edidSize: b.readUInt32LE(EdidReg.edidSize),
    maxXres: b.readUInt32LE(EdidReg.maxXres),
    maxYres: b.readUInt32LE(EdidReg.maxYres),
    linkState: b.readUInt32LE(EdidReg.linkState),
  };
}

export interface EdidResult {
  region: number;
  width: number;
  height: number;
  /** true when the request exceeded the device's max_xres / max_yres */
  clamped: boolean;
}

function writeU32(device: NativeVfioDevice, index: number, offset: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  device.writeRegion(index, offset, b); // the EDID registers take aligned 4-byte writes only
}

/**
 * Writes an EDID preferring WxH (clamped to the device's max_xres/max_yres): link down, blob,
 * size, wait `settleMs` (QEMU waits 100 ms), link up. Throws an Error with code 'ENODEV' when the
 * device has no EDID region, 'ERANGE' for a size no EDID can carry.
 */
export async function writeEdid(
  device: NativeVfioDevice,
  width: number,
  height: number,
  opts: { settleMs?: number; refreshHz?: number } = {},
): Promise<EdidResult> {
  const region = findEdidRegion(device);
  if (region === undefined) {
    throw Object.assign(new Error(`${device.description} has no EDID region (VFIO_REGION_TYPE_GFX / SUBTYPE_GFX_EDID): --resolution cannot be set`), { code: 'ENODEV' });
  }
  const regs = readEdidRegs(device, region);
  const w = regs.maxXres > 0 ? Math.min(width, regs.maxXres) : width;
  const h = regs.maxYres > 0 ? Math.min(height, regs.maxYres) : height;
  let blob: Buffer;
  try {
    blob = buildEdid(w, h, { refreshHz: opts.refreshHz });
  } catch (err) {
    throw Object.assign(new Error(`--resolution ${w}x${h}: ${(err as Error).message}`), { code: 'ERANGE' });
  }
  if (blob.length > regs.edidMaxSize) {
    throw Object.assign(new Error(`the device's EDID space is ${regs.edidMaxSize} bytes, less than one EDID block`), { code: 'ENOSPC' });
  }
  writeU32(device, region, EdidReg.linkState, LINK_DOWN);
  device.writeRegion(region, regs.edidOffset, blob);
  writeU32(device, region, EdidReg.edidSize, blob.length);
  await new Promise((resolve) => setTimeout(resolve, opts.settleMs ?? 100));
  writeU32(device, region, EdidReg.linkState, LINK_UP);
  return { region, width: w, height: h, clamped: w !== width || h !== height };
}
