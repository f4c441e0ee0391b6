// A client's SetDesktopSize on a VFIO display: write an EDID preferring that mode (the guest's
// driver re-reads it on the link-up and may switch; its new mode then arrives as an ordinary
// plane change). Only for devices with an EDID region; writes are serialised, latest wins.
import type { NativeVfioDevice } from '../native.js';
import type { ResizeAnswer } from '../server/display.js';
import type { Logger } from './types.js';
import { edidResolutionProblem, findEdidRegion, readEdidRegs, writeEdid } from './vfio-edid.js';

export type Resizer = (width: number, height: number) => ResizeAnswer;

/** undefined when the device has no EDID region (clients are then told "prohibited"). */
export function edidResizer(device: NativeVfioDevice, log: Logger, opts: { settleMs?: number } = {}): Resizer | undefined {
  let region: number | undefined;
  try {
    region = findEdidRegion(device);
  } catch (err) {
    log(`vfio: cannot look for an EDID region: ${(err as Error).message}; clients cannot resize`);
    return undefined;
  }
  if (region === undefined) return undefined;
  let writing = false;
  let next: { width: number; height: number } | undefined;

  const run = async (): Promise<void> => {
    writing = true;
    while (next) {
      const { width, height } = next;
      next = undefined;
      try {
        await writeEdid(device, width, height, { settleMs: opts.settleMs });
        log(`vfio: client asked for ${width}x${height}: EDID written, the guest decides`);
      } catch (err) {
        log(`vfio: client asked for ${width}x${height}: EDID not written: ${(err as Error).message}`);
      }
    }
    writing = false;
  };

  return (width, height) => {
    if (edidResolutionProblem(width, height)) return 'invalid';
    try {
      const regs = readEdidRegs(device, region!);
      if ((regs.maxXres > 0 && width > regs.maxXres) || (regs.maxYres > 0 && height > regs.maxYres)) return 'invalid';
    } catch (err) {
      log(`vfio: cannot read the EDID region: ${(err as Error).message}`);
      return 'prohibited';
    }
    next = { width, height };
    if (!writing) void run();
    return 'forwarded';
  };
}
