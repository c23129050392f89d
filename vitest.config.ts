import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Most test time is waiting (etcd round trips, renew ticks, paced ECS reads, lease and queue
    // timers), so two files at a time even on a 2-core machine, where vitest's default (cores - 1)
    // would run them one by one: the suite takes about 2 min instead of 4.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Results, not EMF lines: the handlers write no metrics unless a test asks for them
    // (test/integration/handlers.test.ts sets POWERTOOLS_METRICS_DISABLED=false and reads them).
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
