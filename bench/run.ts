// Runs every benchmark module in sequence. Each module exports `run()`;
// add new ones to the list.
const benches: [string, () => Promise<{ run: () => Promise<void> }>][] = [
  ['capture', () => import('./capture.js')],
];

for (const [name, load] of benches) {
  console.log(`\n== ${name} ==`);
  const bench = await load();
  await bench.run();
}
