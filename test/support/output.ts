/** Captures what the process writes to stdout and stderr (log lines, metrics) for assertions. */
import { vi } from 'vitest';

/** Starts capturing; returns the array the chunks are appended to. `vi.restoreAllMocks()` stops it. */
export function captureOutput(): string[] {
  const chunks: string[] = [];
  for (const stream of [process.stdout, process.stderr])
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    });
  return chunks;
}
