// `npm run fuzz -- --count N [--seed S] [--concurrency K]`: runs the fuzz campaign and prints
// its figures; exit code 1 on any crash, hang or wrong verdict.
// `npm run fuzz -- --record`: says how to record the corpus again from the real clients.
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCorpus, runCampaign } from './campaign.js';

/** The repository root, found from here whether run from test/ (vitest) or dist/test/ (tsc). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}

export const CORPUS_DIR = () => join(repoRoot(), 'test/fuzz/corpus');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '100000' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      concurrency: { type: 'string', default: '8' },
      record: { type: 'boolean', default: false },
    },
  });
  if (values.record) {
    // The real-client helpers find their tools relative to their source file: run under vitest.
    console.log('record the corpus with: RECORD_CORPUS=1 npx vitest run test/integration/robustness-record.test.ts');
    return;
  }
  const count = Number(values.count), seed = Number(values.seed), concurrency = Number(values.concurrency);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count: expected a positive integer, got ${values.count}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed: expected an integer, got ${values.seed}`);
  const corpus = loadCorpus(CORPUS_DIR());
  console.log(`fuzzing ${count} messages, seed ${seed}, ${corpus.length} recorded sessions, ${concurrency} connections at once`);
  const r = await runCampaign({ messages: count, seed, corpus, concurrency, progress: (l) => console.log(l) });
  console.log(`messages ${r.messages} in ${r.sessions} sessions (${r.generatedSessions} generated, ${r.mutatedSessions} mutated) in ${r.seconds.toFixed(1)} s: ${Math.round(r.rate)} msg/s`);
  console.log(`crashes ${r.crashes}, hangs ${r.hangs}, internal errors ${r.internalErrors}, valid dropped ${r.falseRejects}, malformed kept ${r.missedRejects}`);
  console.log(`observer checks ${r.checks} passed, ${r.observerFailures} failed, ${r.observerUpdates} updates decoded`);
  console.log('disconnect reasons:');
  for (const [reason, n] of r.reasons.slice(0, 25)) console.log(`  ${String(n).padStart(8)}  ${reason}`);
  for (const f of r.failures) console.log(`FAIL ${f}`);
  const bad = r.crashes + r.hangs + r.internalErrors + r.falseRejects + r.missedRejects + r.observerFailures;
  process.exitCode = bad ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`fuzz: ${(err as Error).message}`);
    process.exitCode = 2;
  });
}
