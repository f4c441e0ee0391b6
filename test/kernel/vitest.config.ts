import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Kernel tests (`npm run test:kernel`): each boots a QEMU guest (TCG) with the
// VFIO display samples. Named *.ktest.ts so the default `vitest run` (which
// takes test/**/*.test.ts) never boots a guest.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/kernel/**/*.ktest.ts'],
    pool: 'forks',
    // One guest at a time: TCG takes a whole core per vCPU on a 2-core machine.
    maxWorkers: 1,
    fileParallelism: false,
    // No retries: the mbochs_rw fixture's "BUG: Bad page state" was its dma-buf references
    // (fixed in mbochs_rw.patch, checked by fixture.ktest.ts); a failure now is a real one.
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
