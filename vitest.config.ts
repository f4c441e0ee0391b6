import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addon + worker threads + child processes: separate processes are the safe pool.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real clients (Xvfb, viewers) are heavy: do not oversubscribe a 2-core machine.
    maxWorkers: 2,
  },
});
