// The fuzz campaign: many connections at once against one in-process server, half generated
// by fast-check (labelled valid / malformed: the oracle), half mutated real-client sessions,
// while two well-behaved observers watch a changing screen. Between rounds the screen holds
// still and both observers must show it exactly. Used by `npm run fuzz`, the CI test and
// `npm run reliability`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { FuzzTarget, sendAndClose, splitRandomly } from './target.js';
import { BGR32, Observer, Painter, RAW, ZRLE } from './observer.js';
import { sessionCase, type SessionCase } from './messages.js';
import { fromJson, keepShared, mutate, rngFrom, splitClientStream, type Recording } from './mutate.js';

export interface CampaignOptions {
  /** Stop once this many client messages (handshake stages included) were sent. */
  messages: number;
  seed?: number;
  corpus: Recording[];
  /** Connections in flight at once (default 8). */
  concurrency?: number;
  /** Connections per round; observers are checked after each (default 400). */
  round?: number;
  /** Share of connections that replay mutated recordings (default 0.5). */
  mutationShare?: number;
  /** How long the server may take to end a session after the client half-closes (default 5000). */
  hangMs?: number;
  progress?: (line: string) => void;
}

export interface CampaignResult {
  messages: number;
  sessions: number;
  generatedSessions: number;
  mutatedSessions: number;
  seconds: number;
  /** Messages per second over the whole run (checks included). */
  rate: number;
  /** Uncaught exceptions and unhandled rejections while the campaign ran. */
  crashes: number;
  /** Sessions the server did not end after the client half-closed. */
  hangs: number;
  /** Sessions ended with an "internal error" (a bug, not a client fault). */
  internalErrors: number;
  /** Well-formed sessions the server dropped anyway. */
  falseRejects: number;
  /** Malformed sessions the server did not drop. */
  missedRejects: number;
  /** Observer checks passed / failed. */
  checks: number;
  observerFailures: number;
  observerUpdates: number;
  /** Reasons the server gave, numbers replaced by #, most frequent first. */
  reasons: Array<[string, number]>;
  /** The first few failures, each with what reproduces it. */
  failures: string[];
}

export function loadCorpus(dir: string): Recording[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => fromJson(readFileSync(join(dir, f), 'utf8')));
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const seed = opts.seed ?? 1;
  const concurrency = opts.concurrency ?? 8;
  const roundSize = opts.round ?? 400;
  const mutationShare = opts.corpus.length ? (opts.mutationShare ?? 0.5) : 0;
  const hangMs = opts.hangMs ?? 5000;
  const rng = rngFrom(seed);
  const r: CampaignResult = {
    messages: 0, sessions: 0, generatedSessions: 0, mutatedSessions: 0, seconds: 0, rate: 0, crashes: 0, hangs: 0,
    internalErrors: 0, falseRejects: 0, missedRejects: 0, checks: 0, observerFailures: 0, observerUpdates: 0, reasons: [], failures: [],
  };
  const fail = (what: string) => {
    if (r.failures.length < 20) r.failures.push(what);
  };
  const onCrash = (err: unknown) => {
    r.crashes++;
    fail(`crash: ${err instanceof Error ? err.stack : String(err)}`);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const target = await new FuzzTarget({ width: 96, height: 64 }).start();
  const painter = new Painter(target.display, seed);
  const observers = [await Observer.start(target.port, RAW), await Observer.start(target.port, ZRLE, BGR32)];
  const started = performance.now();
  let lastProgress = started;
  let generated: SessionCase[] = [];
  let batch = 0;

  const nextGenerated = (): SessionCase => {
    if (!generated.length) generated = fc.sample(sessionCase(100), { numRuns: 200, seed: (seed * 7919 + batch++) | 0 });
    return generated.pop()!;
  };

  const oneSession = async (caseNo: number): Promise<void> => {
    if (rng() < mutationShare) {
      const rec = opts.corpus[Math.floor(rng() * opts.corpus.length)]!;
      const other = opts.corpus[Math.floor(rng() * opts.corpus.length)]!;
      const m = mutate(rec, other, rng);
      const stream = keepShared(Buffer.concat(m.messages));
      const split = splitClientStream(stream);
      r.messages += split.messages.length + (split.rest.length ? 1 : 0);
      r.mutatedSessions++;
      const reason = await sendAndClose(target, splitRandomly(stream, rng), hangMs);
      check(reason, undefined, `mutated ${rec.client} (${m.kind}), seed ${seed}, case ${caseNo}: ${stream.toString('hex').slice(0, 400)}`);
    } else {
      const c = nextGenerated();
      r.messages += c.pieces.length;
      r.generatedSessions++;
      const stream = Buffer.concat(c.pieces.map((p) => p.bytes));
      const reason = await sendAndClose(target, splitRandomly(stream, rng), hangMs);
      const labels = c.pieces.map((p) => p.label).join(', ');
      check(reason, c.valid, `generated (${c.valid ? 'valid' : `bad ${c.stage}: ${c.pieces.at(-1)!.label}`}), seed ${seed}: ${labels}`);
    }
    r.sessions++;
  };

  const check = (reason: string | undefined, valid: boolean | undefined, what: string) => {
    if (reason === undefined) {
      r.hangs++;
      return fail(`hang (no disconnect within ${hangMs} ms after the client half-closed): ${what}`);
    }
    if (reason.startsWith('internal error')) {
      r.internalErrors++;
      return fail(`${reason}: ${what}`);
    }
    if (/\n/.test(reason)) fail(`multi-line reason ${JSON.stringify(reason)}: ${what}`);
    const byClient = reason === 'client disconnected';
    if (valid === true && !byClient) {
      r.falseRejects++;
      fail(`valid session dropped: ${reason}: ${what}`);
    } else if (valid === false && byClient) {
      r.missedRejects++;
      fail(`malformed session not dropped: ${what}`);
    }
  };

  try {
    let caseNo = 0;
    while (r.messages < opts.messages && r.failures.length < 20) {
      painter.start(5);
      const roundEnd = caseNo + roundSize;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (caseNo < roundEnd && r.messages < opts.messages) await oneSession(caseNo++);
        }),
      );
      painter.stop();
      for (const o of observers) {
        try {
          await o.waitForMatch(target.display, 10_000);
          r.checks++;
        } catch (err) {
          r.observerFailures++;
          fail((err as Error).message);
        }
      }
      if (observers.some((o) => o.closed || o.error)) break;
      const now = performance.now();
      if (opts.progress && now - lastProgress > 5000) {
        lastProgress = now;
        opts.progress(`${r.messages} messages, ${r.sessions} sessions, ${Math.round(r.messages / ((now - started) / 1000))} msg/s, failures ${r.failures.length}`);
      }
    }
  } finally {
    painter.stop();
    r.observerUpdates = observers.reduce((s, o) => s + o.updates, 0);
    for (const o of observers) o.close();
    await target.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
  r.seconds = (performance.now() - started) / 1000;
  r.rate = r.messages / r.seconds;
  r.reasons = [...target.reasons].sort((a, b) => b[1] - a[1]);
  return r;
}
