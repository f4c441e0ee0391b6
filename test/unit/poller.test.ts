import { describe, expect, it } from 'vitest';
import { IDLE_TICKS_BEFORE_BACKOFF, PollInterval } from '../../src/surface/poller.js';

describe('PollInterval', () => {
  it('runs at max fps while the screen changes', () => {
    const p = new PollInterval({ maxFps: 50, idleIntervalMs: 300 });
    expect(p.ms).toBe(20);
    expect(p.next(true)).toBe(20);
  });
  it('backs off while idle, bounded, and snaps back on change', () => {
    const p = new PollInterval({ maxFps: 50, idleIntervalMs: 300 });
    for (let i = 1; i < IDLE_TICKS_BEFORE_BACKOFF; i++) expect(p.next(false)).toBe(20);
    const seen = [p.next(false), p.next(false), p.next(false)];
    expect(seen[0]).toBeGreaterThan(20);
    expect(seen[1]).toBeGreaterThan(seen[0]);
    for (let i = 0; i < 50; i++) p.next(false);
    expect(p.ms).toBe(300);
    expect(p.next(true)).toBe(20);
  });
  it('keeps the pace of a guest drawing every other tick', () => {
    const p = new PollInterval({ maxFps: 60, idleIntervalMs: 250 });
    for (let i = 0; i < 20; i++) expect(p.next(i % 2 === 0)).toBeCloseTo(1000 / 60);
  });
  it('never polls faster than max fps even if the idle bound is lower', () => {
    const p = new PollInterval({ maxFps: 10, idleIntervalMs: 50 });
    expect(p.next(false)).toBe(100);
  });
});
