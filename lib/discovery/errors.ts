/**
 * The discovery client's one error. It lives here, not in the registrar's hierarchy, so the client
 * can be installed and used without the registrar (`ecs-etcd-registrar/discovery`).
 */

/**
 * Reading or watching a service directory in etcd failed. The watcher keeps its last list and
 * syncs again by itself; the message says when. Its fields match the registrar's
 * `DependencyError` (`dependency`, `retryable`), so code written against either reads both.
 */
export class EtcdWatchError extends Error {
  override readonly name = 'EtcdWatchError';
  /** What failed: always etcd. */
  readonly dependency = 'etcd' as const;
  /** A later sync can succeed; the watcher retries by itself. */
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(`etcd: ${message}`, options);
  }
}

/** The message of an error, or the thrown value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
