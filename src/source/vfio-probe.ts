// `vgpu-vnc probe`: everything about a VFIO device's display that helps when something is wrong —
// device info, regions (with capability types), plane support, the current primary and cursor
// planes, and the EDID region's registers.
import type { NativeVfioDevice, VfioPlaneError, VfioPlaneInfo, VfioRegionInfo } from '../native.js';
import { describeFourcc, fourccName } from '../surface/fourcc.js';
import { findEdidRegion, readEdidRegs, type EdidRegs } from './vfio-edid.js';
import { validateVfioPlane } from './vfio.js';
import { openVfioDevice, type VfioDeviceSpec } from './vfio-open.js';
import type { Logger } from './types.js';

export interface ProbeReport {
  description: string;
  info: { flags: number; numRegions: number; numIrqs: number };
  regions: VfioRegionInfo[];
  support: { dmabuf: boolean; region: boolean };
  primary?: VfioPlaneInfo | VfioPlaneError;
  cursor?: VfioPlaneInfo | VfioPlaneError;
  /** why the primary plane could not be shown, when it cannot */
  primaryProblem?: string;
  /** the cursor query answered with the primary plane (mdpy ignores the plane type) */
  cursorIsPrimary?: boolean;
  edid?: { index: number; regs: EdidRegs } | { index: number; error: string };
}

/** mbochs answers ENOMEM to the first query after a mode change: ask a few times, as the server would. */
function queryRetrying(device: NativeVfioDevice, type: 'primary' | 'cursor', kind: 'dmabuf' | 'region'): VfioPlaneInfo | VfioPlaneError {
  let answer = device.queryPlane(type, kind);
  for (let i = 0; i < 3 && !answer.ok && (answer.code === 'ENOMEM' || answer.code === 'EAGAIN'); i++) answer = device.queryPlane(type, kind);
  return answer;
}

/** Gathers the report. Never throws for device answers; throws only if the device is closed. */
export function probeDevice(device: NativeVfioDevice): ProbeReport {
  const info = device.info();
  const support = device.probe();
  const report: ProbeReport = { description: device.description, info, regions: [], support };
  const kind = support.dmabuf ? 'dmabuf' : support.region ? 'region' : undefined;
  if (kind) {
    report.primary = queryRetrying(device, 'primary', kind);
    report.cursor = queryRetrying(device, 'cursor', kind);
    const p = report.primary, q = report.cursor;
    report.cursorIsPrimary =
      p.ok && q.ok && p.drmFormat !== 0 && q.drmFormat === p.drmFormat && q.width === p.width && q.height === p.height &&
      q.regionIndex === p.regionIndex && q.dmabufId === p.dmabufId;
    if (report.primary.ok) {
      if (report.primary.drmFormat === 0) report.primaryProblem = 'guest is not scanning out';
      else {
        const check = validateVfioPlane(report.primary);
        if (!check.ok) report.primaryProblem = check.reason;
      }
    }
  }
  const indexes = new Set<number>();
  for (let i = 0; i < Math.min(info.numRegions, 64); i++) indexes.add(i);
  // mdpy's display region (16) is not counted in num_regions.
  if (report.primary?.ok && report.primary.regionIndex !== undefined) indexes.add(report.primary.regionIndex);
  for (const i of [...indexes].sort((a, b) => a - b)) {
    try {
      const r = device.regionInfo(i);
      if (r) report.regions.push(r);
    } catch {
      // a region the driver refuses to describe is simply not listed
    }
  }
  const edidIndex = findEdidRegion(device);
  if (edidIndex !== undefined) {
    try {
      report.edid = { index: edidIndex, regs: readEdidRegs(device, edidIndex) };
    } catch (err) {
      report.edid = { index: edidIndex, error: (err as Error).message };
    }
  }
  return report;
}

const hex = (v: number | bigint, width = 0): string => `0x${v.toString(16).padStart(width, '0')}`;

function regionFlags(flags: number): string {
  const names = [
    [1, 'read'],
    [2, 'write'],
    [4, 'mmap'],
    [8, 'caps'],
  ] as const;
  const set = names.filter(([bit]) => flags & bit).map(([, n]) => n);
  return set.length > 0 ? set.join(',') : '-';
}

function capText(c: VfioRegionInfo['caps'][number]): string {
  if (c.type !== undefined) {
    const known = c.type === 1 && c.subtype === 1 ? ' (GFX EDID)' : c.type === 1 ? ' (GFX)' : '';
    return `type ${c.type}/${c.subtype}${known}`;
  }
  if (c.areas !== undefined) return `sparse mmap, ${c.areas} areas`;
  return `cap ${c.id}`;
}

function planeText(p: VfioPlaneInfo | VfioPlaneError | undefined, cursor: boolean): string {
  if (!p) return 'not supported';
  if (!p.ok) return `query failed: ${p.code}`;
  if (p.drmFormat === 0) return 'disabled (nothing scanned out)';
  const parts = [
    `${p.width}x${p.height}`,
    fourccName(p.drmFormat) ?? describeFourcc(p.drmFormat),
    `stride ${p.stride}`,
    `size ${p.size}`,
    `modifier ${hex(p.modifier, 16)}`,
    p.regionIndex !== undefined ? `region ${p.regionIndex}` : `dma-buf id ${p.dmabufId}`,
  ];
  if (cursor) parts.push(`at ${p.xPos},${p.yPos}`, `hotspot ${p.xHot === 0xffffffff ? 'none' : `${p.xHot},${p.yHot}`}`);
  return parts.join(', ');
}

/** Human-readable report, one fact per line. */
export function formatProbeReport(r: ProbeReport): string {
  const lines: string[] = [];
  lines.push(`device: ${r.description}`);
  lines.push(`  flags ${hex(r.info.flags)}, ${r.info.numRegions} regions, ${r.info.numIrqs} irqs`);
  lines.push('regions:');
  const empty = r.regions.filter((g) => g.size === 0 && g.flags === 0 && g.caps.length === 0).map((g) => g.index);
  for (const g of r.regions) {
    if (empty.includes(g.index)) continue;
    const caps = g.caps.length > 0 ? `  ${g.caps.map(capText).join('; ')}` : '';
    lines.push(`  ${String(g.index).padStart(2)}: size ${g.size} (${hex(g.size)}) offset ${hex(g.offset)} flags ${regionFlags(g.flags)}${caps}`);
  }
  if (empty.length > 0) lines.push(`  (empty: ${empty.join(', ')})`);
  const kinds = [r.support.dmabuf && 'dma-buf', r.support.region && 'region'].filter(Boolean);
  lines.push(`display planes: ${kinds.length > 0 ? kinds.join(', ') : 'none (not a display device)'}`);
  if (kinds.length > 0) {
    lines.push(`  primary: ${planeText(r.primary, false)}`);
    if (r.primaryProblem) lines.push(`    cannot show it: ${r.primaryProblem}`);
    lines.push(`  cursor: ${r.cursorIsPrimary ? 'none (the cursor query returns the primary plane: the driver ignores the plane type)' : planeText(r.cursor, true)}`);
  }
  if (r.edid) {
    if ('error' in r.edid) lines.push(`EDID region ${r.edid.index}: ${r.edid.error}`);
    else {
      const e = r.edid.regs;
      const link = e.linkState === 1 ? 'up' : e.linkState === 2 ? 'down' : e.linkState === 0 ? 'not set yet' : String(e.linkState);
      lines.push(`EDID region ${r.edid.index}: max ${e.maxXres}x${e.maxYres}, blob ${e.edidSize}/${e.edidMaxSize} bytes at ${hex(e.edidOffset)}, link ${link}`);
    }
  } else {
    lines.push('EDID: no EDID region (--resolution not available)');
  }
  return lines.join('\n');
}

/** `vgpu-vnc probe`: opens the device, returns the formatted report, closes it. Throws VfioOpenError. */
export async function probeVfio(spec: VfioDeviceSpec, log?: Logger): Promise<string> {
  const device = await openVfioDevice(spec, { log });
  try {
    return formatProbeReport(probeDevice(device));
  } finally {
    device.close();
  }
}
