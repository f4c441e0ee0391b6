// Real clients (libvncclient, gtk-vnc, TigerVNC, rfb2) recorded through a TCP proxy: what
// they send must cut cleanly into rfbproto messages, replay against the server without being
// dropped, and survive the mutation loop. RECORD_CORPUS=1 also writes test/fuzz/corpus/.
import { describe, expect, it } from 'vitest';
import { recordCorpus, writeCorpus } from '../fuzz/record.js';
import { FuzzTarget, sendAndClose } from '../fuzz/target.js';
import { runCampaign } from '../fuzz/campaign.js';
import { CORPUS_DIR } from '../fuzz/cli.js';
import type { Recording } from '../fuzz/mutate.js';

describe('recorded real-client sessions', () => {
  let recordings: Recording[] = [];

  it('records every real client through the proxy, cut into whole messages', async () => {
    const notes: string[] = [];
    recordings = await recordCorpus((l) => notes.push(l));
    const clients = new Set(recordings.map((r) => r.client.replace(/#\d+$/, '')));
    expect([...clients].sort(), notes.join('\n')).toEqual(
      ['gvnccapture', 'libvnc-hextile-16bpp', 'libvnc-raw', 'libvnc-rre', 'libvnc-tight-bigendian', 'libvnc-zrle-8bpp', 'rfb2', 'tigervnc-tight', 'tigervnc-zrle-lowcolour'],
    );
    expect(notes.filter((n) => /did not split/.test(n))).toEqual([]);
    // Handshake (3 stages) plus at least SetEncodings and one update request each.
    for (const r of recordings) expect(r.messages.length, r.client).toBeGreaterThanOrEqual(5);
    if (process.env.RECORD_CORPUS) writeCorpus(CORPUS_DIR(), recordings);
  }, 180_000);

  it('replays each recording unchanged without the server dropping it', async () => {
    const target = await new FuzzTarget({ width: 320, height: 200 }).start();
    try {
      for (const r of recordings) expect(await sendAndClose(target, r.messages), r.client).toBe('client disconnected');
    } finally {
      await target.close();
    }
  });

  it('mutations of the fresh recordings: no crash, hang or internal error, observers exact', async () => {
    const r = await runCampaign({ messages: 5000, seed: 11, corpus: recordings, mutationShare: 1 });
    expect(r.failures).toEqual([]);
    expect(r.mutatedSessions).toBeGreaterThan(0);
  }, 120_000);
});
