import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Results, not EMF lines: the handlers write no metrics unless a test asks for them
    // (test/integration/handlers.test.ts sets POWERTOOLS_METRICS_DISABLED=false and reads them).
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
