/**
 * The log every use case, adapter and command writes to. A leaf: it imports nothing, so any layer
 * can take a logger without importing the code of another.
 */

/** The few logger methods the registrar uses (Powertools' Logger fits). */
export interface Log {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}
