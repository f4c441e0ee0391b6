// Adaptive capture pacing (DESIGN.md "Surface"): as fast as --max-fps while the screen
// changes, backing off while it is idle, and not at all while nobody wants a frame.
export interface PollerOptions {
  maxFps: number;
  /** Longest wait between captures of an idle screen while a client waits (ms). */
  idleIntervalMs: number;
}

/** Unchanged ticks in a row before the interval grows. */
export const IDLE_TICKS_BEFORE_BACKOFF = 3;

export class PollInterval {
  private current: number;
  readonly min: number;
  constructor(private readonly opts: PollerOptions) {
    this.min = 1000 / opts.maxFps;
    this.current = this.min;
  }
  get ms(): number {
    return this.current;
  }
  private idleTicks = 0;
  /** The screen changed within the last few ticks (the interval has not started growing). */
  get active(): boolean {
    return this.idleTicks < IDLE_TICKS_BEFORE_BACKOFF;
  }
  /**
   * After a capture: reset on change; on idle grow by half (QEMU grows by 50 ms; we scale), but
   * only after IDLE_TICKS_BEFORE_BACKOFF unchanged ticks in a row: a guest drawing at half our
   * rate leaves every other tick unchanged, and backing off then would delay each of its frames.
   */
  next(changed: boolean): number {
    this.idleTicks = changed ? 0 : this.idleTicks + 1;
    if (changed) this.current = this.min;
    else if (this.idleTicks >= IDLE_TICKS_BEFORE_BACKOFF)
      this.current = Math.max(this.min, Math.min(this.opts.idleIntervalMs, this.current * 1.5));
    return this.current;
  }
}
