import { describe, expect, it } from 'vitest';
import { FlipCadence, SKIPS_TO_UNLOCK } from '../../src/surface/cadence.js';
import { xorshift } from '../helpers/random.js';

const PACE = 1000 / 60; // our fastest poll interval (max fps 60)

interface Guest {
  /** Flip times (ms), ascending. */
  flips: number[];
}

/** A guest flipping every `period` ms from `phase`, each flip late by up to `jitter` ms; `skip` drops that share of flips. */
function steadyGuest(period: number, opts: { phase?: number; jitter?: number; skip?: number; until?: number; seed?: number } = {}): Guest {
  const rand = xorshift(opts.seed ?? 7);
  const u = (): number => rand() / 2 ** 32;
  const flips: number[] = [];
  for (let t = opts.phase ?? 5.3; t < (opts.until ?? 4000); t += period) {
    if (opts.skip && u() < opts.skip) continue;
    flips.push(t + u() * (opts.jitter ?? 0));
  }
  return { flips };
}

interface Outcome {
  /** Mean time from a flip to the first poll that saw it (ms), after the warm-up. */
  meanDelay: number;
  /** Polls per flip seen, after the warm-up. */
  pollsPerFlip: number;
  pollsPerSecond: number;
  cadence: FlipCadence;
}

/**
 * Runs a poll loop against a guest: the cadence's time when locked, else the fixed pace (as
 * CapturedDisplay does). Timers fire up to 1 ms late, as Node's do; a capture takes 2 ms.
 * `cadence: false` runs the fixed pace alone, the baseline.
 */
function run(guest: Guest, opts: { cadence?: boolean; end?: number; warmup?: number; seed?: number } = {}): Outcome {
  const cadence = new FlipCadence({ minPeriodMs: PACE });
  const rand = xorshift(opts.seed ?? 3);
  const end = opts.end ?? 4000, warmup = opts.warmup ?? 1000;
  const frameAt = (t: number): number => {
    let n = -1;
    for (const f of guest.flips) if (f <= t) n++; else break;
    return n;
  };
  let t = 0, seen = frameAt(0), polls = 0, flipsSeen = 0, delaySum = 0;
  while (t < end) {
    const frame = frameAt(t);
    const changed = frame !== seen;
    cadence.record(t, changed);
    if (t >= warmup) {
      polls++;
      if (changed) {
        flipsSeen++;
        delaySum += t - guest.flips[frame]!; // the newest flip: the one the client gets to see
      }
    }
    seen = frame;
    const done = t + 2;
    const locked = opts.cadence === false ? undefined : cadence.nextPollAt(done);
    const target = locked ?? t + PACE;
    t = Math.max(target, done) + (rand() / 2 ** 32);
  }
  return {
    meanDelay: flipsSeen ? delaySum / flipsSeen : Infinity,
    pollsPerFlip: flipsSeen ? polls / flipsSeen : Infinity,
    pollsPerSecond: (polls * 1000) / (end - warmup),
    cadence,
  };
}

describe('FlipCadence', () => {
  it('locks to a guest flipping at half our pace and polls just after its flips, once per frame', () => {
    const guest = steadyGuest(1000 / 30, { jitter: 1 });
    const locked = run(guest);
    const fixed = run(guest, { cadence: false });
    expect(locked.cadence.locked).toBe(true);
    expect(locked.cadence.periodMs).toBeCloseTo(1000 / 30, 0);
    expect(fixed.meanDelay).toBeGreaterThan(5); // half of 16.7 ms on average
    expect(locked.meanDelay).toBeLessThan(3);
    expect(locked.pollsPerFlip).toBeLessThan(1.25);
    expect(fixed.pollsPerFlip).toBeGreaterThan(1.9);
  });

  it('locks to a guest flipping at our own pace', () => {
    const guest = steadyGuest(PACE, { jitter: 1, phase: 11.1 });
    const locked = run(guest);
    const fixed = run(guest, { cadence: false });
    expect(locked.cadence.locked).toBe(true);
    expect(locked.meanDelay).toBeLessThan(3.5);
    expect(locked.meanDelay).toBeLessThan(fixed.meanDelay / 2);
    expect(locked.pollsPerFlip).toBeLessThan(1.3);
  });

  it('follows a guest whose period is not the one first measured (24 fps video, drifting clock)', () => {
    for (const period of [1000 / 24, 33.9, 20.5]) {
      const outcome = run(steadyGuest(period, { jitter: 1 }));
      expect(outcome.cadence.locked).toBe(true);
      expect(outcome.cadence.periodMs).toBeCloseTo(period, 0);
      expect(outcome.meanDelay).toBeLessThan(3.5);
      expect(outcome.pollsPerFlip).toBeLessThan(1.3);
    }
  });

  it('keeps the lock through skipped frames and timer jitter', () => {
    const outcome = run(steadyGuest(1000 / 30, { jitter: 3, skip: 0.1 }));
    expect(outcome.cadence.locked).toBe(true);
    expect(outcome.meanDelay).toBeLessThan(5);
    expect(outcome.pollsPerFlip).toBeLessThan(1.8);
  });

  it('never polls a guest faster than our pace more often than the pace allows', () => {
    const guest = steadyGuest(5, { jitter: 0.5 });
    const outcome = run(guest);
    expect(outcome.pollsPerFlip).toBeCloseTo(1, 5); // each poll finds a new picture
    expect(outcome.pollsPerSecond).toBeLessThanOrEqual(1000 / (0.9 * PACE));
  });

  it('does not lock to a guest drawing at irregular times, so it polls at the normal pace', () => {
    const rand = xorshift(11);
    const flips: number[] = [];
    for (let t = 3; t < 4000; t += 5 + (rand() / 2 ** 32) * 120) flips.push(t);
    const outcome = run({ flips });
    const fixed = run({ flips }, { cadence: false });
    expect(outcome.meanDelay).toBeLessThanOrEqual(fixed.meanDelay * 1.15);
  });

  it('unlocks when the guest stops flipping', () => {
    const guest = steadyGuest(1000 / 30, { until: 1500 });
    const c = run(guest, { end: 1490 }).cadence;
    expect(c.locked).toBe(true);
    const outcome = run(guest, { end: 1500 + (SKIPS_TO_UNLOCK + 2) * 40 });
    expect(outcome.cadence.locked).toBe(false);
  });

  it('unlocks when nobody polled for a long time', () => {
    const c = run(steadyGuest(1000 / 30), { end: 1200 }).cadence;
    expect(c.locked).toBe(true);
    expect(c.nextPollAt(5000)).toBeUndefined();
    expect(c.locked).toBe(false);
  });
});
