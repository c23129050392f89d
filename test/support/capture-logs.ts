/** What handlers log, captured inside a vitest test. */
import { vi } from 'vitest';

/** The JSON log lines handlers write to stdout/stderr, captured (and kept off the test output). */
export interface CapturedLogs {
  /** Every JSON line written since capture started. */
  lines(): Record<string, unknown>[];
}

/** Captures what is written to stdout and stderr until `vi.restoreAllMocks()`. */
export function captureLogs(): CapturedLogs {
  const written: string[] = [];
  for (const stream of [process.stdout, process.stderr])
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  return {
    lines: () =>
      written
        .flatMap((s) => s.split('\n'))
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
