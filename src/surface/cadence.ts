// Phase-locked polling. A VFIO display says nothing when the guest flips; we only learn that
// a poll found a new picture. Polling at a fixed rate finds a flip on average half a period
// after it. Most guests flip at a steady cadence (a compositor at its refresh rate, a video
// at its frame rate), so once the cadence is known the poll can wait for the next expected
// flip and come just after it: lower latency, and one poll per guest frame instead of two
// when the guest draws at half our rate.
//
// While locked, each period's poll comes at `target`, our upper bound of the flip time: a
// poll there finds the flip, and the target then moves a step earlier for the next period.
// A poll that comes too early re-polls shortly after and halves the step; a hit lets the
// step grow again. The target so sits just after the flips (a quantile of their jitter),
// follows drift either way, and the period is re-fitted from the targets that hit.

/** Smallest and largest step the target moves earlier after a hit (ms). Node's timers resolve about 1 ms. */
export const MIN_STEP_MS = 0.3;
export const MAX_STEP_MS = 2;
/** Changes at a steady interval needed before locking. */
export const CHANGES_TO_LOCK = 10;
/** Changes the period is fitted to while locked. */
const FIT_CHANGES = 12;
/** Periods in a row without the expected flip before the lock is given up. */
export const SKIPS_TO_UNLOCK = 3;
/** First re-poll after an expected flip did not come (ms); doubles while it still does not. */
const LATE_STEP_MS = 2;

export interface CadenceOptions {
  /** The fastest we poll (1000 / max fps): flips faster than this are not locked to. */
  minPeriodMs: number;
  /** Slowest cadence locked to; a slower guest is polled at the normal interval (default 100). */
  maxPeriodMs?: number;
}

export class FlipCadence {
  /** The guest's flip period while locked. */
  private period: number | undefined;
  private readonly maxPeriod: number;
  /** Times of recent polls that saw a change (for locking). */
  private readonly changes: number[] = [];
  /** When to poll for the next expected flip; `step`: how much earlier the one after. */
  private target = 0;
  private step = MAX_STEP_MS;
  /** Periods since the lock (the index of the flip `target` is for), and (index, time) of recent hits. */
  private periodIndex = 0;
  private readonly fits: Array<{ k: number; at: number }> = [];
  /** Re-polls since the expected flip failed to show; the target to go back to if it was skipped. */
  private late = 0;
  private skippedFrom: number | undefined;
  private skipped = 0;
  private lastPollAt = -Infinity;
  private lastChangeAt = -Infinity;

  constructor(private readonly opts: CadenceOptions) {
    this.maxPeriod = opts.maxPeriodMs ?? 100;
  }

  get locked(): boolean {
    return this.period !== undefined;
  }

  /** The locked period (ms), for logs and tests. */
  get periodMs(): number | undefined {
    return this.period;
  }

  /** After each poll: when it started (ms, monotonic) and whether it found a new picture. */
  record(at: number, changed: boolean): void {
    const previous = this.lastPollAt;
    this.lastPollAt = at;
    if (changed) this.noteChange(at);
    if (this.period === undefined) {
      if (changed) this.tryLock(previous);
      return;
    }
    const T = this.period;
    if (changed) {
      if (at > this.target + T / 2) {
        // A change far from the expected flip: the cadence moved; start again from here.
        this.periodIndex += Math.round((at - this.target) / T);
        this.target = at;
        this.step = Math.max(MIN_STEP_MS, Math.min(T / 4, (at - previous) / 2));
      } else {
        // A poll later than the target (a late timer) found what the target would have: the
        // target stays, or the timers' lateness would creep into the phase. Earlier: it hit.
        this.target = Math.min(this.target, at);
        if (this.late === 0) this.step = Math.min(MAX_STEP_MS, this.step * 1.1);
      }
      this.refinePeriod(this.target);
      this.clearMisses();
      this.target -= this.step;
      this.advance();
      return;
    }
    if (at < this.target) return; // a poll for another reason, before the flip was due
    // The expected flip did not come by the target: too early a step, a late flip, or the guest
    // skipped this frame. Re-poll shortly after; give up on this period after half of it.
    if (this.skippedFrom === undefined) {
      this.skippedFrom = this.target + this.step; // the target before this period's step
      this.step = Math.max(MIN_STEP_MS, this.step / 2);
    }
    const next = at + LATE_STEP_MS * 2 ** this.late++;
    if (next - this.skippedFrom <= T / 2) {
      this.target = next;
      return;
    }
    this.target = this.skippedFrom;
    this.skippedFrom = undefined;
    this.late = 0;
    this.advance();
    if (++this.skipped >= SKIPS_TO_UNLOCK) this.unlock();
  }

  /**
   * When to poll next while locked (ms, monotonic; may be in the past: poll now), or
   * undefined when not locked (use the normal interval).
   */
  nextPollAt(now: number): number | undefined {
    const T = this.period;
    if (T === undefined) return undefined;
    if (now - this.lastPollAt > Math.max(1000, 4 * T)) {
      // Nobody polled for a while (no client wanted a frame): the phase may be stale.
      this.unlock();
      return undefined;
    }
    // A target that lies behind us (a slow capture, a late timer) moves to its next period.
    while (this.target + T <= now) this.advance();
    // Never two pictures closer than the fastest pace allows (a guest faster than max fps).
    return Math.max(this.target, this.lastChangeAt + 0.9 * this.opts.minPeriodMs);
  }

  private noteChange(at: number): void {
    this.lastChangeAt = at;
    this.changes.push(at);
    if (this.changes.length > CHANGES_TO_LOCK) this.changes.shift();
  }

  /** Locks when the last changes came at a steady interval no faster than our pace and no slower than maxPeriod. */
  private tryLock(previous: number): void {
    const c = this.changes;
    if (c.length < CHANGES_TO_LOCK) return;
    const mean = (c[c.length - 1]! - c[0]!) / (c.length - 1);
    if (mean > this.maxPeriod || mean < 0.9 * this.opts.minPeriodMs) return;
    // Polls quantise what we see: a steady guest's changes come within one poll interval of the mean.
    const spread = this.opts.minPeriodMs + 2;
    for (let i = 1; i < c.length; i++) if (Math.abs(c[i]! - c[i - 1]! - mean) > spread) return;
    this.period = Math.max(mean, this.opts.minPeriodMs);
    const last = c[c.length - 1]!;
    // The last flip came after the poll before `last`: start half that gap earlier.
    this.step = Math.max(MIN_STEP_MS, Math.min(this.period / 4, (last - previous) / 2));
    this.target = last - this.step;
    this.clearMisses();
    this.periodIndex = 0;
    this.fits.length = 0;
    this.fits.push({ k: 0, at: last });
    this.advance();
  }

  /**
   * Follows a guest whose period differs from the one locked to: the slope of the recent hits'
   * targets against their period index (each target lies just after its flip).
   */
  private refinePeriod(at: number): void {
    const fits = this.fits;
    fits.push({ k: this.periodIndex, at });
    if (fits.length > FIT_CHANGES) fits.shift();
    if (fits.length < 4) return;
    let sk = 0, st = 0;
    for (const f of fits) {
      sk += f.k;
      st += f.at;
    }
    const mk = sk / fits.length, mt = st / fits.length;
    let num = 0, den = 0;
    for (const f of fits) {
      num += (f.k - mk) * (f.at - mt);
      den += (f.k - mk) ** 2;
    }
    if (den === 0) return;
    const slope = num / den;
    const T = this.period!;
    if (slope > T / 2 && slope < T * 1.5) this.period = Math.max(this.opts.minPeriodMs, T + 0.5 * (slope - T));
  }

  /** The target of the flip one period later. */
  private advance(): void {
    this.periodIndex++;
    this.target += this.period!;
  }

  private unlock(): void {
    this.period = undefined;
    this.changes.length = 0;
    this.clearMisses();
  }

  /** Forgets re-polls and skipped periods (a flip was found, or the lock starts or ends). */
  private clearMisses(): void {
    this.late = 0;
    this.skippedFrom = undefined;
    this.skipped = 0;
  }
}
