// The source signatures a display keeps for its captures (see SourceSigs in src/native.ts): with
// them the capture's non-full pass reads the surface only where the guest's picture changed.
import type { SourceSigs } from '../native.js';

/**
 * Segment width in pixels, rounded down to whole tiles. Measured cold (`npm run bench -- capture
 * sigs`): 256 beat 128 and 64 on every case, a small change included.
 */
export const SIG_SEGMENT_PX = 256;
/**
 * After this many passes, or this long, the signatures are forgotten and the next pass compares
 * every segment for real: a hash collision (a change the hash missed) lasts at most that long.
 */
export const SIG_REFRESH_PASSES = 64;
export const SIG_REFRESH_MS = 4000;

export class SourceSignatures {
  private readonly arg: SourceSigs;
  private passes = 0;
  private refreshedAt: number;

  constructor(readonly width: number, readonly height: number, tileSize: number, now = performance.now()) {
    const segmentWidth = Math.max(1, Math.floor(SIG_SEGMENT_PX / tileSize)) * tileSize;
    this.arg = { sigs: Buffer.alloc(height * Math.ceil(width / segmentWidth) * 8), segmentWidth };
    this.refreshedAt = now;
  }

  /** Whether the next pass forgets the signatures and compares for real. */
  refreshDue(now = performance.now()): boolean {
    return this.passes + 1 >= SIG_REFRESH_PASSES || now - this.refreshedAt >= SIG_REFRESH_MS;
  }

  /** The capture argument for the next pass (forgotten first when a refresh is due). */
  forPass(now = performance.now()): SourceSigs {
    if (this.refreshDue(now)) this.forget(now);
    else this.passes++;
    return this.arg;
  }

  /** The capture argument as it is, for an idle probe (a probe is not a pass: no refresh is counted). */
  current(): SourceSigs {
    return this.arg;
  }

  /** The surface changed without a capture (drawn into, replaced): no signature vouches for it any more. */
  forget(now = performance.now()): void {
    this.arg.sigs.fill(0);
    this.passes = 0;
    this.refreshedAt = now;
  }
}
