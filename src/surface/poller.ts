// Adaptive capture pacing (DESIGN.md "Surface"): as fast as --max-fps while the screen
// changes, backing off while it is idle, and not at all while nobody wants a frame.
export interface PollerOptions {
  maxFps: number;
  /** Longest wait between captures of an idle screen while a client waits (ms). */
  idleIntervalMs: number;
}

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
  /** After a capture: reset on change, grow by half (QEMU grows by 50 ms; we scale) on idle. */
  next(changed: boolean): number {
    this.current = changed ? this.min : Math.max(this.min, Math.min(this.opts.idleIntervalMs, this.current * 1.5));
    return this.current;
  }
}
