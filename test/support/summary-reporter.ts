/**
 * Prints two plain closing lines, `tests: N passed, N failed, N skipped` and `node: vX.Y.Z`, after
 * vitest's own report, so any log reader can tell how many tests ran, and on which Node.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      let failed = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') failed++;
        else counts.skipped++;
      }
      // A file that failed outside any test (import error, failing beforeAll) counts as one failure.
      counts.failed += failed === 0 && module.state() === 'failed' ? 1 : failed;
    }
    process.stdout.write(
      `\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\nnode: ${process.version}\n`,
    );
  }
}
