// Robustness scenarios at CI size (npm run reliability runs them at full size and writes
// RELIABILITY.md): stalled clients, many clients on a 1080p source through the real command,
// and a hostile producer whose last valid mode a real client must show exactly.
import { describe, expect, it } from 'vitest';
import { runStall } from '../reliability/stalled.js';
import { runMany } from '../reliability/many.js';
import { runHostile } from '../reliability/hostile.js';
import { grabLibvnc } from '../helpers/clients.js';

describe('robustness (CI size)', () => {
  it('a client that stops reading holds at most 5 x max(one frame, 1 MiB) and is dropped; a fence flood is dropped too', async () => {
    const r = await runStall({ stallSeconds: 3, stallTimeoutMs: 1000, fenceFlood: true, width: 1280, height: 720 });
    expect(r.failures).toEqual([]);
    expect(r.peakQueuedBytes).toBeGreaterThan(0);
    expect(r.peakQueuedBytes).toBeLessThanOrEqual(r.boundBytes);
    expect(r.dropReason).toMatch(/stopped reading|not reading/);
    expect(r.fenceFlood!.dropReason).toMatch(/stopped reading|not reading/);
    expect(r.observerExact).toBe(true);
  }, 90_000);

  it('20 clients and one stalled client on one 1080p source: every reading client keeps getting updates', async () => {
    const r = await runMany({ clients: 20, seconds: 4, stalled: true });
    expect(r.failures.filter((f) => /disconnected/.test(f))).toEqual([]);
    expect(r.updatesPerSecond.min).toBeGreaterThan(0);
    expect(r.serverPeakRssMiB).toBeGreaterThan(0);
  }, 120_000);

  it('300 hostile plane changes with clients connected: no crash, one-line logs, exact final picture for observers and libvncclient', async () => {
    const r = await runHostile({
      changes: 300,
      seed: Number(process.env.HOSTILE_SEED ?? 5),
      realClient: (port, width, height) => grabLibvnc(port, { encodings: ['zrle', 'raw'], expectSize: { width, height }, timeoutMs: 20_000 }),
    });
    expect(r.failures).toEqual([]);
    expect(r.crashes).toBe(0);
    expect(r.badLogLines).toEqual([]);
    expect(r.observersExact).toBe(true);
    expect(r.realClientExact).toBe(true);
  }, 120_000);
});
