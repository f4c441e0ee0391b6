// Runs every benchmark module in sequence. Each module exports `run()`;
// add new ones to the list.
const benches: [string, () => Promise<{ run: () => Promise<void> }>][] = [
  ['capture', () => import('./capture.js')],
  ['encoders', () => import('./encoders.js')],
  ['idle', () => import('./idle.js')],
  ['tight', () => import('./tight.js')],
  ['scroll', () => import('./scroll.js')],
  ['zstream', () => import('./zstream.js')],
  ['zrle', () => import('./zrle.js')],
  ['xvnc', () => import('./xvnc/index.js')],
];
// Long benchmarks (minutes) run only when named: `npm run bench -- xvnc`.
const optIn = new Set(['xvnc']);

// `npm run bench -- idle capture` runs only the named ones.
const only = process.argv.slice(2);
for (const [name, load] of benches) {
  if (only.length ? !only.includes(name) : optIn.has(name)) continue;
  console.log(`\n== ${name} ==`);
  const bench = await load();
  await bench.run();
}
