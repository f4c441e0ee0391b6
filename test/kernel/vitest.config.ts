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
    // Retries, for the test fixture rather than our code: the one-line O_RDWR patch that
    // makes mbochs_rw's dma-bufs mmap-able is not a proper mmap implementation, and the guest
    // kernel often reports "BUG: Bad page state" (and sometimes hangs) when a process unmaps them
    // at exit after a mode change (after all checks passed). A real failure fails every time.
    retry: 2,
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
